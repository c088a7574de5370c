#!/usr/bin/env python3
# Summarises bench/images/throughput.sh output: per case and build, min / median / max images/s and cores busy over all
# loads but the first of each process (JIT). Usage: throughput_summary.py RAW.txt
import re, sys, statistics
from collections import defaultdict

rows = defaultdict(list)
seen = set()
for line in open(sys.argv[1]):
    m = re.match(r"round=(\d+) build=(\S+) case=(\S+) .*: (\d+) images/s, ([\d.]+) cores busy", line)
    if not m:
        continue
    rnd, build, case, rate, cores = m.group(1), m.group(2), m.group(3), int(m.group(4)), float(m.group(5))
    if (rnd, build, case) not in seen:   # the first load of each process carries the JIT
        seen.add((rnd, build, case))
        continue
    rows[(case, build)].append((rate, cores))

builds = list(dict.fromkeys(b for (_, b) in rows))
print(f"{'case':<14} {'build':<8} {'n':>3} {'min':>7} {'median':>7} {'max':>7} {'cores':>6}")
for case in dict.fromkeys(c for (c, _) in rows):
    for b in builds:
        v = rows.get((case, b))
        if not v:
            continue
        rates = [r for r, _ in v]
        print(f"{case:<14} {b:<8} {len(v):>3} {min(rates):>7} {statistics.median(rates):>7.0f} {max(rates):>7} {statistics.median(c for _, c in v):>6.2f}")
