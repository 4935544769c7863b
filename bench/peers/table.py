#!/usr/bin/env python3
"""Print the results of scripts/bench-peers.sh (one JSON object per line, from
measure.py) as Markdown tables: every step of every system, then the ratio
peer ÷ botq per rate, then each system's knee.

    python3 bench/peers/table.py RESULTS.jsonl [--knee-secs 3]
"""

import argparse
import json
import statistics
from collections import defaultdict

MIB = 1024.0


def fmt(x, digits=1):
    if x is None:
        return "–"
    if isinstance(x, float) and x >= 1000:
        return f"{x:,.0f}".replace(",", " ")
    return f"{x:.{digits}f}"


def tail(r):
    if r["all_replied"]:
        return fmt(max(r["reply_tail_s"], 0.0), 1)
    return f"≥{r['waited_s']:.0f} ({r['replies']}/{r['expected_replies']})"


def total_rss(r):
    return sum(r["rss_peak_kib"].values()) / MIB


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--knee-secs", type=float, default=3.0,
                    help="a rate is sustained when every reply arrived within this long after the load")
    args = ap.parse_args()
    rows = [json.loads(line) for line in open(args.results) if line.strip().startswith("{")]

    def sustained(r):
        return (r["all_replied"] and r["non_2xx"] == 0
                and r["reply_tail_s"] is not None and r["reply_tail_s"] <= args.knee_secs)

    if not rows:
        raise SystemExit(f"no results in {args.results}")
    seen = defaultdict(int)
    for r in rows:  # steps run in rounds: the nth step of a system at a rate is round n
        seen[(r["system"], r["rate"])] += 1
        r.setdefault("round", seen[(r["system"], r["rate"])])
    rounds = max(r["round"] for r in rows)
    systems = list(dict.fromkeys(r["system"] for r in rows))
    rates = sorted({r["rate"] for r in rows})

    print("| offered/s | round | system | achieved/s | acked 2xx | ack p50 / p99 ms | replies / expected "
          "| last reply after load, s | e2e replies/s | peak RSS MiB ingest / worker / redis = total "
          "| CPU µs per reply system / redis | machine busy cores |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for rate in rates:
        for r in sorted((r for r in rows if r["rate"] == rate), key=lambda r: r["round"]):
            rss = r["rss_peak_kib"]
            print(
                f"| {fmt(rate, 0)} | {r['round']} | {r['system']} | {fmt(r['achieved_rate'])} | {r['ok']} / {r['requests']} "
                f"| {fmt(r['ack_p50_ms'], 2)} / {fmt(r['ack_p99_ms'], 2)} | {r['replies']} / {r['expected_replies']} "
                f"| {tail(r)} | {fmt(r['e2e_replies_per_s'], 0)} "
                f"| {rss.get('ingest', 0) / MIB:.1f} / {rss.get('worker', 0) / MIB:.1f} / {rss['redis'] / MIB:.1f} "
                f"= {total_rss(r):.1f} "
                f"| {r['sut_cpu_us_per_event']:.0f} / {r['redis_cpu_us_per_event']:.0f} "
                f"| {fmt(r['machine_busy_cores'], 2)} |"
            )

    if len(systems) >= 2:
        base, others = systems[0], systems[1:]
        by = defaultdict(list)
        for r in rows:
            by[(r["system"], r["rate"])].append(r)

        def mean(system, rate, key):
            vals = [key(r) for r in by[(system, rate)]]
            vals = [v for v in vals if v is not None]
            return statistics.mean(vals) if vals else None

        metrics = [
            ("ack p50", lambda r: r["ack_p50_ms"]),
            ("ack p99", lambda r: r["ack_p99_ms"]),
            ("e2e replies/s", lambda r: r["e2e_replies_per_s"]),
            ("total peak RSS", total_rss),
            ("redis peak RSS", lambda r: r["rss_peak_kib"]["redis"] / MIB),
            ("system CPU/reply", lambda r: r["sut_cpu_us_per_event"]),
            ("redis CPU/reply", lambda r: r["redis_cpu_us_per_event"]),
        ]
        for other in others:
            print()
            print(f"Ratio {other} ÷ {base} (the ratio of the two systems' means over the steps at that rate; > 1 means {other} is higher):")
            print()
            print("| offered/s | " + " | ".join(m for m, _ in metrics) + " |")
            print("|---|" + "---|" * len(metrics))
            for rate in rates:
                past = [s for s in (base, other) if not all(sustained(r) for r in by[(s, rate)])]
                cells = []
                for _, key in metrics:
                    a, b = mean(base, rate, key), mean(other, rate, key)
                    cells.append(f"{b / a:.2f}×" if a and b is not None else "–")
                note = f" (past the knee: {', '.join(past)})" if past else ""
                print(f"| {fmt(rate, 0)}{note} | " + " | ".join(cells) + " |")

    print()
    for system in systems:
        knees = []
        for n in range(1, rounds + 1):
            mine = sorted((r for r in rows if r["system"] == system and r["round"] == n), key=lambda r: r["rate"])
            ok = [r["rate"] for r in mine if sustained(r)]
            knee = max(ok) if ok else None
            first_bad = min((r["rate"] for r in mine if not sustained(r) and (knee is None or r["rate"] > knee)),
                            default=None)
            where = f"up to {fmt(knee, 0)}/s" if knee else "not even at the lowest rate"
            beyond = f" (not at {fmt(first_bad, 0)}/s)" if first_bad else " (the highest rate offered)"
            knees.append((f"round {n} " if rounds > 1 else "") + where + beyond)
        print(f"- {system}, every request acked 2xx and every reply within {args.knee_secs:g} s of the load: "
              + "; ".join(knees))


if __name__ == "__main__":
    main()
