# botq's entry points. `make run` starts botq locally; `make test` runs every test.
FUZZ_SECS ?= 60
.PHONY: fuzz long chaos run test lint ci console-shots bench-ingest bench-worker bench-e2e bench-fairness bench-burst bench-soak bench-peers bench-flood bench-capacity deps send

# The quick start: Redis (started for you unless BOTQ_REDIS_URL is set),
# botq with deploy/botq.example.toml.
run:
	scripts/run-local.sh

# The whole test suite against real redis-server processes the tests start.
# The binaries are built first: the end-to-end and chaos tests run them.
test: deps
	cargo build --workspace --bins
	cargo test --workspace --all-targets

# The console's screenshots for the README (docs/console/), taken by its browser test.
console-shots: deps
	cargo build --workspace --bins
	BOTQ_CONSOLE_SHOTS=$(CURDIR)/docs/console cargo test -p botq-e2e --test it console_browser::

# The long proofs: a longer chaos run through the same test, and
# every fuzz target for FUZZ_SECS seconds. CHAOS_EVENTS is per platform.
CHAOS_EVENTS ?= 2000
CHAOS_SECS ?= 120
long: chaos fuzz

chaos: deps
	cargo build --workspace --bins
	CHAOS_EVENTS=$(CHAOS_EVENTS) CHAOS_SECS=$(CHAOS_SECS) cargo test -p botq-e2e --test it chaos:: -- --nocapture

lint:
	scripts/check-deploy.sh
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

ci: lint test

deps:
	@scripts/ensure-redis.sh
	@scripts/ensure-browser.sh

# The benchmarks recorded in BENCHMARKS.md.
bench-ingest: deps
	scripts/bench-ingest.sh

bench-worker: deps
	scripts/bench-worker.sh

bench-e2e: deps
	scripts/bench-e2e.sh

bench-fairness: deps
	scripts/bench-fairness.sh

bench-burst: deps
	scripts/bench-burst.sh

# An hour at 250 QQ + 250 Lark webhooks/s, memory and Redis keys sampled.
SOAK_SECS ?= 3600
SOAK_RATE ?= 250
bench-soak: deps
	scripts/bench-soak.sh $(SOAK_SECS) $(SOAK_RATE)

# Real QQ webhooks alone and beside a 20 000/s forgery flood, rejection budget on and off.
bench-flood: deps
	scripts/bench-flood.sh

# The capacity model's check: 1 ingest + 1 worker against 2 + 2 on the same cores.
bench-capacity: deps
	cargo build --release -q -p botq-ingest -p botq-worker -p botq-bench -p botq-fakeplatform
	scripts/bench-capacity.sh 3000,4500 10 qq-bench 1x1 2x2 1x1 2x2

# botq beside a Fastify + BullMQ build of the same job (bench/peers/bullmq), one run.
bench-peers: deps
	scripts/bench-peers.sh

# Send one signed webhook to the local botq: make send [BOT=qq-main] [TEXT=/ping]
BOT ?= qq-main
TEXT ?= /ping
send:
	. deploy/quickstart.env && cargo run --release -q -p botq-bench -- send --bot $(BOT) --text '$(TEXT)'

# Every fuzz target for FUZZ_SECS seconds (nightly + cargo-fuzz), from the seed
# corpora in fuzz/seeds (test vectors); new inputs collect in fuzz/corpus.
fuzz:
	cargo install cargo-fuzz --locked --quiet
	cd fuzz && for t in webhook_unsigned webhook_signed envelope_decode config_toml; do \
	  mkdir -p corpus/$$t && cargo +nightly fuzz run $$t corpus/$$t seeds/$$t -- -max_total_time=$(FUZZ_SECS) || exit 1; \
	done
