#!/usr/bin/env bash
# Paired throughput of the image-folder loader (issue 20, "no slower"): builds of GpuGan.Bench taken in turns, so that
# whatever else the machine does falls on all of them alike. Run it holding the machine (the shared CPU lock here).
#   bench/images/throughput.sh DATA ROUNDS NAME=BENCH_DIR [NAME=BENCH_DIR ...] > RAW.txt
# DATA is the folder `GpuGan.Bench images-make DATA /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz`
# wrote; BENCH_DIR a Release output folder of bench/GpuGan.Bench (e.g. bench/GpuGan.Bench/bin/Release/net10.0).
# Each round runs every case on every build in turn (the order reversed every other round), 3 loads per process; every load is one raw line. Summarise with
# bench/images/throughput_summary.py RAW.txt (min and median images/s per build and case, first load of each process
# left out: it carries the JIT).
set -euo pipefail
data=$1 rounds=$2
shift 2
builds=("$@")
cases=("png28 32 1" "png28 28 1" "jpeg256 64 3")
echo "# $(date -u +%FT%TZ) $(nproc) cores, $(uname -r), rounds=$rounds, builds: ${builds[*]}"
for ((r = 1; r <= rounds; r++)); do
  for c in "${cases[@]}"; do
    read -r folder size channels <<< "$c"
    order=("${builds[@]}")
    if ((r % 2 == 0)); then order=(); for ((i = ${#builds[@]} - 1; i >= 0; i--)); do order+=("${builds[i]}"); done; fi   # alternate the order
    for build in "${order[@]}"; do
      name=${build%%=*} dir=${build#*=}
      "$dir/GpuGan.Bench" images-quick "$data/$folder" "$size" "$channels" 3 | sed "s|^|round=$r build=$name case=$folder-$size |"
    done
  done
done
