#!/usr/bin/env bash
# The scores of EMA-WARMUP.md for one training seed, in one lock: variants a, b, c (each run folder's generator file) and
# raw (--raw, the checkpoint of s<seed>-a), scoring seeds 1, 2, 3, as RESULTS.md's E1 scores.
# Usage: score-warmup.sh SEED. G: the gpugan command; R: the runs' folder; O: where the JSON goes; C: the feature cache.
set -euo pipefail
T=$1
G=${G:-gpugan}; R=${R:-/tmp/s16w/runs}; O=${O:-docs/quality/experiments}; L=${L:-/work/brief/cpu.lock}; C=${C:-/tmp/s16b/runs/cache}
sc() { local out=$1; shift; "$G" score --count 1000 --device cpu --cache-dir "$C" --json "$O/$out.json" "$@" > "$O/logs/$out.txt" 2>&1; }
flock "$L" bash -c "$(declare -f sc); G='$G' C='$C' O='$O'; set -e
  for s in 1 2 3; do
    for v in a b c; do sc W-t$T-\$v-seed\$s --run '$R/s$T-'\$v --seed \$s; done
    sc W-t$T-raw-seed\$s --run '$R/s$T-a' --raw --seed \$s
  done"
