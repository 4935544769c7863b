#!/usr/bin/env python3
"""Groups a perf profile's collapsed stacks (inferno-collapse-perf output,
root first, `;`-separated, a count at the end) into the cost centres of
BENCHMARKS.md, and optionally writes a trimmed copy of the stacks.

Three views, each in % of all samples of the process:
- owner: each sample counted once, for the innermost frame on its stack that
  belongs to a named component (Redis client, HTTP, JSON, ...). Allocation,
  kernel, libc and std/core frames are skipped on the way up, so a malloc
  inside serde_json counts for JSON and a sendto() inside the Redis client
  counts for the Redis client. Samples with nothing but generic frames count
  for the tokio runtime when it is on the stack (its epoll and futex waits,
  context switches, moving task futures), else the innermost generic group.
- self: the group of the leaf frame alone (where the CPU literally was),
  kernel time split into socket I/O, sleep/wake and the rest.
- inclusive: samples with at least one frame of the group anywhere on the
  stack (overlapping; the total exceeds 100%).
Then the top functions by self and by inclusive samples.

    profile-groups.py STACKS [--hyper-as GROUP] [--trim FRACTION --folded-out PATH]

--hyper-as names the group of hyper's frames that serve both sides (its
connection and buffer code): the HTTP server in ingest, the HTTP client
(replies) in the worker.

--trim drops, from the written copy, stacks whose own count is below
FRACTION of all samples after folding each such stack into its parent
prefix (so totals are kept): this is what keeps the flamegraph SVG small.
"""

import argparse
import collections
import re

# (group, pattern) in priority order for one frame; "generic" groups are
# skipped when looking for a sample's owner.
GROUPS = [
    ("tracing/logging", r"^<?tracing|tracing_subscriber|tracing_core"),
    ("metrics", r"^<?metrics(_exporter_prometheus|_util)?::|<metrics"),
    ("crypto/verify", r"ed25519|curve25519|sha1|sha2::|hmac|^<?aes::|cbc::|block_buffer|digest::|::verify"),
    ("JSON", r"serde_json|^<?serde(_core)?::|<serde(_core)?::"),
    ("HTTP client (reqwest/hyper)", r"reqwest|hyper_util::client|hyper::client|role::Client|dispatch::Client|^<?url::"),
    ("HTTP server (axum/hyper)", r"axum|hyper::server|role::Server|dispatch::Server|hyper_util::server|tower_http|^<?tower::"),
    ("HTTP (hyper, shared)", r"^<?hyper(_util)?::|<hyper"),
    ("Redis client", r"^<?redis::|<redis::|combine::|futures_util::stream::stream::forward|tokio_util::codec"),
    ("botq queue calls (keys, script args)", r"botq_core::(queue|scripts|throttle|keys)"),
    ("botq code", r"botq_"),
    ("tokio scheduling", r"tokio::|^<?mio::|parking_lot|std::thread::park|futex"),
    ("allocation", r"malloc|^free|cfree|libc_free|realloc|calloc|_int_|unlink_chunk|__rust_alloc|__rust_dealloc|__rust_realloc|__rdl_|tcache|sysmalloc|alloc::raw_vec|alloc::alloc::|GlobalAlloc|memalign|^_?mi_"),
    ("libc mem*", r"mem(cpy|move|set|cmp)|strlen|__GI___writev|__GI___libc_(write|read|send|recv)|^epoll_wait|^syscall$"),
    ("kernel", r"_\[k\]$"),
    ("std/core", r"^<?(core|alloc|std)::|^<?&|^<?\["),
]
GENERIC = {"allocation", "libc mem*", "kernel", "std/core", "tokio scheduling"}
COMPILED = [(g, re.compile(p)) for g, p in GROUPS]
# Functions of these crates make the inclusive list (not the runtime's
# wrappers that merely carry them as type parameters).
NAMED = re.compile(
    r"^<?(botq_\w+|redis|reqwest|hyper(_util)?|axum|serde_json|metrics\w*|tracing_subscriber|sha1|sha2|ed25519_dalek|hmac|aes|cbc)::"
)


def group_of(frame, cache={}):
    g = cache.get(frame)
    if g is None:
        g = next((name for name, rx in COMPILED if rx.search(frame)), "other")
        cache[frame] = g
    return g


def short(frame, width=110):
    frame = re.sub(r"::h[0-9a-f]{16}$", "", frame)
    return frame if len(frame) <= width else frame[: width - 1] + "…"


def read(path):
    stacks = []
    for line in open(path, encoding="utf-8", errors="replace"):
        line = line.rstrip("\n")
        if not line:
            continue
        stack, _, count = line.rpartition(" ")
        try:
            n = int(count)
        except ValueError:
            continue
        stacks.append((stack.split(";"), n))
    return stacks


def owner(frames):
    generic = set()
    for f in reversed(frames):
        g = group_of(f)
        if g not in GENERIC and g != "other":
            return g
        generic.add(g)
    # Nothing but runtime, allocator, libc and kernel frames: the runtime
    # owns them (its epoll and futex waits, task moves), else the innermost.
    for g in ("tokio scheduling", "allocation", "libc mem*", "std/core", "kernel"):
        if g in generic:
            return g
    return "other"


SOCKET = re.compile(r"sendmsg|sendto|recvmsg|recvfrom|writev|readv|ksys_write|ksys_read|tcp_|sock_|inet_|__x64_sys_(write|read)")
SLEEP = re.compile(r"epoll|futex|schedule|finish_task_switch|hrtimer|nanosleep|sched_yield")


def leaf_group(frames):
    """The leaf's group; kernel time split by what the thread was doing.
    An unnamed leaf (an inlined `{async_fn#0}`, a closure) belongs to the
    nearest named frame above it."""
    g = "other"
    for f in reversed(frames):
        g = group_of(f)
        if g != "other":
            break
    if g != "kernel":
        return g
    if any(SOCKET.search(f) for f in frames):
        return "kernel: socket I/O (loopback TCP send/recv)"
    if any(SLEEP.search(f) for f in frames):
        return "kernel: sleep/wake (epoll, futex, context switch)"
    return "kernel: other"


def trim(stacks, total, fraction):
    """Folds stacks below fraction*total into their parent prefix, repeatedly."""
    counts = collections.Counter()
    for frames, n in stacks:
        counts[tuple(frames)] += n
    floor = fraction * total
    changed = True
    while changed:
        changed = False
        for key in sorted(counts, key=len, reverse=True):
            n = counts[key]
            if n < floor and len(key) > 1:
                del counts[key]
                counts[key[:-1]] += n
                changed = True
    return counts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("stacks")
    ap.add_argument("--trim", type=float, default=0.0)
    ap.add_argument("--folded-out")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--hyper-as", help="the group hyper's shared frames belong to in this process")
    a = ap.parse_args()
    stacks = read(a.stacks)
    if a.hyper_as:
        for i, (name, rx) in enumerate(COMPILED):
            if name == "HTTP (hyper, shared)":
                COMPILED[i] = (a.hyper_as, rx)
    total = sum(n for _, n in stacks)
    own = collections.Counter()
    leaf = collections.Counter()
    incl = collections.Counter()
    fself = collections.Counter()
    fincl = collections.Counter()
    for frames, n in stacks:
        own[owner(frames)] += n
        leaf[leaf_group(frames)] += n
        for g in {group_of(f) for f in frames}:
            incl[g] += n
        fself[short(frames[-1])] += n
        for f in {short(f) for f in frames if NAMED.search(f)}:
            fincl[f] += n

    def pct(x):
        return 100.0 * x / total if total else 0.0

    print(f"{total} (sum of the samples' perf periods; every % below is of this)")
    print("\n## by owner (each sample once, innermost named component)\n")
    for g, n in own.most_common():
        print(f"{pct(n):6.1f}%  {g}")
    print("\n## self (leaf frame's group)\n")
    for g, n in leaf.most_common():
        print(f"{pct(n):6.1f}%  {g}")
    print("\n## inclusive (group anywhere on the stack; overlapping)\n")
    for g, n in incl.most_common():
        print(f"{pct(n):6.1f}%  {g}")
    print(f"\n## top {a.top} functions by self samples\n")
    for f, n in fself.most_common(a.top):
        print(f"{pct(n):6.1f}%  {f}")
    print(f"\n## top {a.top} functions of named components by inclusive samples\n")
    for f, n in fincl.most_common(a.top):
        print(f"{pct(n):6.1f}%  {f}")
    if a.folded_out:
        counts = trim(stacks, total, a.trim) if a.trim > 0 else collections.Counter({tuple(f): n for f, n in stacks})
        with open(a.folded_out, "w", encoding="utf-8") as out:
            for key in sorted(counts):
                out.write(";".join(key) + f" {counts[key]}\n")


if __name__ == "__main__":
    main()
