#!/usr/bin/env bash
# Runs the device kit packed by pack.sh (out/gpucheck-kit.tar.xz) and writes its results into
# RESULTS_DIR: gpugan.json, torch.json, gpucheck.json, gpucheck.md, the logs and the GPU's
# nvidia-smi report. Needs no .NET (the pack carries the runtime) and no network: CUDA's driver,
# Python and PyTorch are what the GPU machine brings.
#
#   bench/GpuCheck/run.sh RESULTS_DIR            the GPU run: under 6 minutes on an H100-class GPU
#   bench/GpuCheck/run.sh RESULTS_DIR --dry-run  ILGPU's CPU accelerator and CPU PyTorch at tiny
#                                                shapes, anywhere: checks the kit, measures nothing
#
# Time budget of the GPU run (the kit's internal budgets sit below these hard limits): unpack a few
# seconds; GpuGan 250 s at most (parity ~100 s, kernels ~35 s, three training runs ~25 s each);
# PyTorch 90 s at most (six timed runs of ≤ 6 s, their warm-ups, the import). A part that overruns
# is killed; what it wrote by then is kept and reported.
#
# Environment: GPUCHECK_PACK (another pack), PYTHON (the interpreter that has torch).
set -uo pipefail

usage() { echo "usage: $0 RESULTS_DIR [--dry-run]" >&2; exit 2; }
[[ $# -ge 1 ]] || usage
RESULTS="$1"; shift
DRY_RUN=0
for a in "$@"; do
    case "$a" in
        --dry-run) DRY_RUN=1 ;;
        *) usage ;;
    esac
done

KIT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PACK="${GPUCHECK_PACK:-$KIT/out/gpucheck-kit.tar.xz}"
START=$SECONDS
say() { echo "[run.sh $((SECONDS - START)) s] $*"; }

if [[ ! -f "$PACK" ]]; then
    echo "no pack at $PACK: run bench/GpuCheck/pack.sh first" >&2
    exit 2
fi
mkdir -p "$RESULTS"
RESULTS="$(cd "$RESULTS" && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

say "unpacking $PACK"
tar -C "$WORK" -xJf "$PACK" || { echo "could not unpack $PACK" >&2; exit 2; }
K="$WORK/gpucheck"
cp "$K/COMMIT" "$RESULTS/COMMIT"
say "kit built from commit $(head -1 "$K/COMMIT")"

# A Python that has torch: $PYTHON, python3 on PATH, or the system's (Debian's python3-torch).
PY=""
for candidate in "${PYTHON:-}" python3 /usr/bin/python3 python; do
    [[ -n "$candidate" ]] || continue
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c "import torch" >/dev/null 2>&1; then
        PY="$candidate"; break
    fi
done

if [[ $DRY_RUN -eq 1 ]]; then
    DEVICE=ilgpu-cpu; TORCH_DEVICE=cpu; MODE=(--dry-run)
    GPUGAN_LIMIT=1200; TORCH_LIMIT=300
    say "DRY RUN: ilgpu-cpu and CPU PyTorch at tiny shapes"
else
    DEVICE=cuda; TORCH_DEVICE=cuda; MODE=()
    GPUGAN_LIMIT=250; TORCH_LIMIT=90
    if command -v nvidia-smi >/dev/null 2>&1; then
        nvidia-smi > "$RESULTS/nvidia-smi.txt" 2>&1
        say "GPU: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)"
    else
        say "nvidia-smi not found"
    fi
    # ILGPU opens the driver as "libcuda.so"; many machines register only libcuda.so.1 with the
    # loader (the unversioned name comes with CUDA's development files). Give it the name.
    if ! ldconfig -p 2>/dev/null | grep -q 'libcuda\.so '; then
        LIBCUDA="$(ldconfig -p 2>/dev/null | awk '/libcuda\.so\.1 .*x86-64/ {print $NF; exit}')"
        for dir in /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/local/nvidia/lib64 /usr/local/cuda/compat /usr/lib/wsl/lib; do
            [[ -n "$LIBCUDA" ]] && break
            [[ -e "$dir/libcuda.so.1" ]] && LIBCUDA="$dir/libcuda.so.1"
        done
        if [[ -n "$LIBCUDA" ]]; then
            mkdir -p "$WORK/lib"
            ln -s "$LIBCUDA" "$WORK/lib/libcuda.so"
            export LD_LIBRARY_PATH="$WORK/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
            say "linked libcuda.so -> $LIBCUDA"
        else
            say "libcuda.so.1 not found: ILGPU will not see the GPU"
        fi
    fi
fi

STATUS=0
say "GpuGan ($DEVICE), at most $GPUGAN_LIMIT s"
timeout --signal=TERM --kill-after=10 "$GPUGAN_LIMIT" \
    "$K/bin/GpuGan.GpuCheck" run --models "$K/models.json" --out "$RESULTS" --device "$DEVICE" "${MODE[@]}" \
    2>&1 | tee "$RESULTS/gpugan.log"
RC=${PIPESTATUS[0]}
if [[ $RC -ne 0 ]]; then say "GpuGan part exited with $RC$([[ $RC -eq 124 ]] && echo ' (time limit)')"; STATUS=1; fi

if [[ -z "$PY" ]]; then
    say "no Python with torch found (tried \$PYTHON, python3, /usr/bin/python3, python): PyTorch part skipped"
    STATUS=1
else
    say "PyTorch ($TORCH_DEVICE) with $PY, at most $TORCH_LIMIT s"
    timeout --signal=TERM --kill-after=10 "$TORCH_LIMIT" \
        "$PY" "$K/torch_check.py" --models "$K/models.json" --out "$RESULTS/torch.json" --device "$TORCH_DEVICE" "${MODE[@]}" \
        2>&1 | tee "$RESULTS/torch.log"
    RC=${PIPESTATUS[0]}
    if [[ $RC -ne 0 ]]; then say "PyTorch part exited with $RC$([[ $RC -eq 124 ]] && echo ' (time limit)')"; STATUS=1; fi
fi

say "report"
"$K/bin/GpuGan.GpuCheck" report --dir "$RESULTS" || STATUS=1

# A kit that reports a failed check has done its job, but the caller should see it.
if grep -q '"status": "fail"' "$RESULTS/gpugan.json" 2>/dev/null; then
    say "some checks FAILED (see gpucheck.md)"
    STATUS=1
fi
grep -q '"matches": false' "$RESULTS/gpugan.json" 2>/dev/null && { say "an architecture differs from models.json"; STATUS=1; }
say "results in $RESULTS ($((SECONDS - START)) s)"
exit $STATUS
