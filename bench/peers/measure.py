#!/usr/bin/env python3
"""One step of scripts/bench-peers.sh: offer one rate to one running system and
measure it from the outside, the same way for botq and for a peer.

While `botq-bench ingest` offers the load (open loop, signed OneBot /ping
webhooks), this samples every 100 ms:
  - the fake platform's delivery counter (GET {fake}/_fake/stats),
  - VmRSS of every process of the system under test and of its Redis,
  - machine-wide CPU busy time (/proc/stat), to show what else ran.
It keeps sampling after the load until every reply has arrived (or until
--reply-timeout seconds after the load, or --stall seconds without a new
reply), then reads CPU time (utime + stime) of each process and prints one
JSON object.

Expected replies: every scheduled request (warm-up included) plus
botq-bench's pre-flight request, all /ping, each answered with one "pong".
"""

import argparse
import json
import math
import os
import subprocess
import sys
import threading
import time
import urllib.request

TICK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def scheduled(rate, secs):
    # botq-bench's schedule: ceil(rate × window), with its epsilon.
    return max(0, math.ceil(rate * secs - 1e-9))


def cpu_secs(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is state (field 3); utime, stime are fields 14, 15.
    return (int(fields[11]) + int(fields[12])) / TICK


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def machine_jiffies():
    with open("/proc/stat") as f:
        parts = [int(x) for x in f.readline().split()[1:]]
    idle = parts[3] + parts[4]
    return sum(parts[:8]), idle


def deliveries(fake):
    with urllib.request.urlopen(f"{fake}/_fake/stats", timeout=2) as r:
        stats = json.load(r)
    return stats.get("deliveries", 0), stats.get("rejected", 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--system", required=True)
    ap.add_argument("--rate", type=float, required=True)
    ap.add_argument("--secs", type=float, required=True)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--bench", required=True, help="botq-bench binary")
    ap.add_argument("--config", required=True, help="config with the bench bot's signing secret")
    ap.add_argument("--bot", default="onebot-bench")
    ap.add_argument("--url", required=True, help="base URL of the system's webhook endpoint")
    ap.add_argument("--fake", required=True, help="base URL of botq-fakeplatform")
    ap.add_argument("--chats", type=int, default=20000)
    ap.add_argument("--proc", action="append", default=[], metavar="NAME=PID",
                    help="a process of the system under test (repeat)")
    ap.add_argument("--redis", required=True, metavar="PID")
    ap.add_argument("--aux", action="append", default=[], metavar="NAME=PID",
                    help="a process measured for context only (the fake platform)")
    ap.add_argument("--reply-timeout", type=float, default=60.0)
    ap.add_argument("--stall", type=float, default=15.0)
    ap.add_argument("--bench-log", default=os.devnull)
    args = ap.parse_args()

    procs = dict(p.split("=", 1) for p in args.proc)
    procs["redis"] = args.redis
    aux = dict(p.split("=", 1) for p in args.aux)
    expected = scheduled(args.rate, args.warmup) + scheduled(args.rate, args.secs) + 1

    cpu0 = {n: cpu_secs(p) for n, p in {**procs, **aux}.items()}
    peak_rss = {n: status_kib(p, "VmRSS") for n, p in procs.items()}
    idle_rss = dict(peak_rss)
    samples = []  # (t, deliveries)
    machine = []  # (t, total jiffies, idle jiffies)
    state = {"stop": False, "rejected": 0}

    def sample():
        while not state["stop"]:
            t = time.monotonic()
            try:
                d, rej = deliveries(args.fake)
                samples.append((t, d))
                state["rejected"] = rej
            except OSError:
                pass
            for n, p in procs.items():
                try:
                    peak_rss[n] = max(peak_rss[n], status_kib(p, "VmRSS"))
                except OSError:
                    pass
            machine.append((t, *machine_jiffies()))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()

    cmd = [args.bench, "ingest", "--config", args.config, "--bot", args.bot, "--url", args.url,
           "--rate", f"{args.rate:g}", "--duration", f"{args.secs:g}", "--warmup", f"{args.warmup:g}",
           "--chats", str(args.chats), "--json"]
    t_bench = time.monotonic()
    bench = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t_load = None
    err_lines = []
    for line in bench.stderr:
        err_lines.append(line)
        if t_load is None and line.startswith("rate ") and " signed " in line:
            t_load = time.monotonic()  # the clock starts right after signing
    out = bench.stdout.read()
    rc = bench.wait()
    t_end = time.monotonic()
    with open(args.bench_log, "a") as log:
        log.write(" ".join(cmd) + "\n" + "".join(err_lines) + out)
    report = {}
    for line in out.splitlines():
        if line.strip().startswith("{"):
            report = json.loads(line)
    if rc != 0 or not report:
        sys.stderr.write("".join(err_lines[-20:]))
        sys.exit(f"botq-bench failed (exit {rc}) against {args.system}")
    if t_load is None:  # older or newer bench without the line: infer from the end
        t_load = t_end - args.warmup - args.secs
    t_load_end = t_load + args.warmup + args.secs

    # Wait for the replies.
    deadline = t_end + args.reply_timeout
    t_all = None
    while time.monotonic() < deadline:
        if samples and samples[-1][1] >= expected:
            t_all = next(t for t, d in samples if d >= expected)
            break
        last_change = max((t for (t, d), (_, prev) in zip(samples[1:], samples) if d != prev), default=t_end)
        if time.monotonic() - max(last_change, t_end) > args.stall:
            break
        time.sleep(0.1)
    state["stop"] = True
    sampler.join()
    cpu1 = {n: cpu_secs(p) for n, p in {**procs, **aux}.items()}
    hwm = {n: status_kib(p, "VmHWM") for n, p in procs.items()}
    got = samples[-1][1] if samples else 0

    def delivered_at(t):
        before = [d for ts, d in samples if ts <= t]
        return before[-1] if before else 0

    # Machine CPU busy (all processes, ours and others) while the load ran.
    win = [m for m in machine if t_load <= m[0] <= t_load_end] or machine
    busy_cores = None
    if len(win) >= 2:
        (ta, tot_a, idle_a), (tb, tot_b, idle_b) = win[0], win[-1]
        if tot_b > tot_a:
            busy_cores = ((tot_b - tot_a) - (idle_b - idle_a)) / TICK / (tb - ta)
    # CPU per event handled end to end: per reply that arrived (the same as per
    # event when every reply arrived; past the knee, requests that timed out
    # would otherwise count as events that cost nothing).
    events = max(min(got, expected), 1)
    sut = [n for n in procs if n != "redis"]
    cpu = {n: cpu1[n] - cpu0[n] for n in cpu1}
    status = report.get("status", {})
    lat = report.get("latency_ms") or {}
    result = {
        "system": args.system,
        "rate": args.rate,
        "secs": args.secs,
        "warmup": args.warmup,
        "achieved_rate": report.get("achieved_rate"),
        "requests": report.get("requests"),
        "ok": status.get("2xx"),
        "non_2xx": sum(v for k, v in status.items() if k != "2xx"),
        "ack_p50_ms": lat.get("p50"),
        "ack_p99_ms": lat.get("p99"),
        "ack_max_ms": lat.get("max"),
        "send_lag_p99_ms": (report.get("send_lag_ms") or {}).get("p99"),
        "bench_cpu_us_per_req": report.get("cpu_us_per_request"),
        "expected_replies": expected,
        "replies": got,
        "fake_rejected": state["rejected"],
        "all_replied": got >= expected,
        # Seconds from the last scheduled request to the last expected reply
        # (None: not all arrived; then waited_s says how long we waited).
        "reply_tail_s": (t_all - t_load_end) if t_all is not None else None,
        "waited_s": time.monotonic() - t_load_end,
        # Replies per second from the start of the load to the last reply.
        "e2e_replies_per_s": (min(got, expected) - 1) / ((t_all or samples[-1][0]) - t_load) if samples else None,
        # Replies per second while the measured window ran.
        "window_replies_per_s": (delivered_at(t_load_end) - delivered_at(t_load + args.warmup)) / args.secs,
        "rss_peak_kib": peak_rss,
        "rss_idle_kib": idle_rss,
        "rss_hwm_kib": hwm,
        "cpu_s": {n: round(v, 3) for n, v in cpu.items()},
        "sut_cpu_us_per_event": sum(cpu[n] for n in sut) * 1e6 / events,
        "redis_cpu_us_per_event": cpu["redis"] * 1e6 / events,
        "machine_busy_cores": busy_cores,
        "loadavg": open("/proc/loadavg").read().split()[:3],
        "bench_wall_s": t_end - t_bench,
    }
    print(json.dumps(result))
    mib = ", ".join(f"{n} {v / 1024:.1f}" for n, v in peak_rss.items())
    tail = (f"last {result['reply_tail_s']:.1f} s after the load" if t_all is not None
            else f"NOT all within {result['waited_s']:.0f} s")
    print(f"  {args.system:>6} {args.rate:>6.0f}/s: acked {result['ok']}/{result['requests']}, "
          f"ack p50 {result['ack_p50_ms']} ms p99 {result['ack_p99_ms']} ms; replies {got}/{expected}, {tail}; "
          f"peak RSS MiB {mib}; CPU/event {result['sut_cpu_us_per_event']:.0f} µs + redis "
          f"{result['redis_cpu_us_per_event']:.0f} µs; machine busy {busy_cores or 0:.2f} cores, "
          f"load {' '.join(result['loadavg'])}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
