#!/usr/bin/env bash
# Packs the device kit for a GPU machine that has no .NET and no network: a self-contained
# linux-x64 publish of GpuGan.GpuCheck (the .NET runtime included), models.json and torch_check.py,
# as out/gpucheck-kit.tar.xz (git-ignored), at most 50 MB. run.sh unpacks and runs it.
#
# Trimming: none of the IL. ILGPU reads kernels' IL by reflection, maps framework methods (Math,
# MathF, …) to intrinsics by reflection and emits launchers with Reflection.Emit, so what the
# trimmer would cut is exactly what only a GPU run would find missing. What is dropped is what a run
# never loads: the debugger and dump support of the runtime (createdump, libmscordbi.so,
# libmscordaccore.so), package XML docs and non-English satellite resources. xz does the rest.
#
#   bench/GpuCheck/pack.sh            → bench/GpuCheck/out/gpucheck-kit.tar.xz
set -euo pipefail

KIT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="$KIT/out"
STAGE="$OUT/stage"
PACK="$OUT/gpucheck-kit.tar.xz"
LIMIT_BYTES=$((50 * 1000 * 1000))

rm -rf "$STAGE" "$PACK"
mkdir -p "$STAGE/gpucheck"

echo "==> dotnet publish (self-contained, linux-x64, Release)"
dotnet publish "$KIT/GpuCheck.csproj" -c Release -r linux-x64 --self-contained true \
    -p:PublishTrimmed=false -p:PublishReferencesDocumentationFiles=false -p:GenerateDocumentationFile=false \
    -o "$STAGE/gpucheck/bin" -nologo -v quiet

# Never loaded by a run: the debugger's and crash dumps' helpers.
rm -f "$STAGE/gpucheck/bin/createdump" "$STAGE/gpucheck/bin/libmscordbi.so" "$STAGE/gpucheck/bin/libmscordaccore.so"
find "$STAGE/gpucheck/bin" -name '*.xml' -delete

cp "$KIT/models.json" "$KIT/torch_check.py" "$STAGE/gpucheck/"
git -C "$KIT" rev-parse HEAD > "$STAGE/gpucheck/COMMIT" 2>/dev/null || echo unknown > "$STAGE/gpucheck/COMMIT"
git -C "$KIT" status --porcelain --untracked-files=no | grep -q . && echo "dirty" >> "$STAGE/gpucheck/COMMIT" || true

echo "==> xz"
tar -C "$STAGE" -cf - gpucheck | xz -T0 -6 > "$PACK"
rm -rf "$STAGE"

SIZE=$(stat -c %s "$PACK")
echo "$PACK: $((SIZE / 1000 / 1000)) MB ($SIZE bytes)"
if (( SIZE > LIMIT_BYTES )); then
    echo "the kit is larger than 50 MB" >&2
    exit 1
fi
