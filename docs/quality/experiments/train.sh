#!/usr/bin/env bash
# The training runs of PLAN.md, one per lock (each ≤ 5 min). G: the gpugan command; R: the runs' folder.
set -euo pipefail
G=${G:-gpugan}; R=${R:-runs/quality}; L=${L:-/work/brief/cpu.lock}
mkdir -p "$R"
common=(--device cpu --threads 2 --seed 1 --sample-every 500 --checkpoint-every 500)
run() { echo "$(date -u +%T) start $*"; flock "$L" "$G" train "$@" > "$R/log-$(date +%s%N).txt" 2>&1; echo "$(date -u +%T) done"; }
# E1: DCGAN-28 on Fashion-MNIST with EMA 0.999, 3,000 steps in two chunks.
run --data fashion-mnist --image-size 28 --ema 0.999 --steps 1500 "${common[@]}" --out "$R/E1"
run --data fashion-mnist --image-size 28 --ema 0.999 --steps 3000 "${common[@]}" --out "$R/E1" --resume
# F1–F6 and P1–P6: small data, without and with DiffAugment.
for n in 100 500 2000; do
  run --data fashion-mnist --image-size 28 --limit $n --steps 800 "${common[@]}" --out "$R/F-$n-none"
  run --data fashion-mnist --image-size 28 --limit $n --steps 800 --augment color,translation,cutout "${common[@]}" --out "$R/F-$n-aug"
done
for n in 100 500 2000; do
  run --data petri --limit $n --steps 600 "${common[@]}" --out "$R/P-$n-none"
  run --data petri --limit $n --steps 600 --augment color,translation,cutout "${common[@]}" --out "$R/P-$n-aug"
done
