#!/usr/bin/env bash
# The scores of PLAN.md, one lock per group. G: the gpugan command; R: the runs' folder; O: where the JSON goes.
set -euo pipefail
G=${G:-gpugan}; R=${R:-runs/quality}; O=${O:-docs/quality/experiments}; L=${L:-/work/brief/cpu.lock}
C=${C:-$R/cache}   # the feature networks' cache, one per data set, trained by the first score
sc() { local out=$1; shift; "$G" score --count 1000 --device cpu --cache-dir "$C" --json "$O/$out.json" "$@" > "$O/$out.txt" 2>&1; }
case "${1:-all}" in
  ema)
    flock "$L" bash -c "$(declare -f sc); G='$G' C='$C' O='$O'; set -e
      for s in 1 2 3; do sc E1-ema-seed\$s --run '$R/E1' --seed \$s; sc E1-raw-seed\$s --run '$R/E1' --raw --seed \$s; done" ;;
  small|F|P)
    ds="F P"; [ "$1" = small ] || ds=$1
    for d in $ds; do
      data=$([ $d = F ] && echo fashion-mnist || echo petri)
      flock "$L" bash -c "$(declare -f sc); G='$G' C='$C' O='$O'; set -e
        for n in 100 500 2000; do for a in none aug; do for s in 1 2; do
          sc $d-\$n-\$a-seed\$s --run '$R/$d-'\$n-\$a --data $data --reference held-out --seed \$s; done; done; done"
    done ;;
esac
