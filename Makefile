# botq's entry points. `make run` starts botq locally; `make test` runs every test.
.PHONY: run test lint ci bench-ingest deps

# The quick start: Redis (started for you unless BOTQ_REDIS_URL is set),
# botq with deploy/botq.example.toml.
run:
	scripts/run-local.sh

# The whole test suite against real redis-server processes the tests start.
test: deps
	cargo test --workspace --all-targets

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

ci: lint test

deps:
	@scripts/ensure-redis.sh

# The ingest benchmark recorded in BENCHMARKS.md.
bench-ingest: deps
	scripts/bench-ingest.sh
