#!/usr/bin/env python3
"""Reply latency between two scrapes of botq-worker's /metrics.

    scripts/reply-quantiles.py BEFORE AFTER   ->   "<replies> <p50 ms> <p95 ms> <p99 ms>"

Differences the botq_event_reply_latency_seconds buckets of the two scrapes
and interpolates the quantiles within buckets, as Prometheus'
histogram_quantile does. Used by bench-e2e.sh and profile.sh.
"""
import re
import sys


def load(path):
    b = {}
    for line in open(path):
        m = re.match(r'botq_event_reply_latency_seconds_bucket\{.*le="([^"]+)"\} (\S+)', line)
        if m:
            b[float(m.group(1))] = b.get(float(m.group(1)), 0.0) + float(m.group(2))
    return b


b0, b1 = load(sys.argv[1]), load(sys.argv[2])
les = sorted(b1)
cum = [b1[le] - b0.get(le, 0.0) for le in les]
total = cum[-1] if cum else 0
out = []
for q in (0.5, 0.95, 0.99):
    rank, prev_le, prev_c = q * total, 0.0, 0.0
    for le, c in zip(les, cum):
        if c >= rank:
            frac = (rank - prev_c) / (c - prev_c) if c > prev_c else 0
            v = le if le == float("inf") else prev_le + (le - prev_le) * frac
            out.append(f"{v * 1000:.0f}")
            break
        prev_le, prev_c = le, c
print(int(total), *(out or ["-", "-", "-"]))
