#!/usr/bin/env bash
# The packages as a user gets them (called by .ci/run after the build; runnable alone after
# `dotnet build GpuGan.sln -c Release`): pack the libraries and the tool into a local folder feed,
# install the tool into a temporary tool path and run it, then build and run a throwaway consumer
# project, created in a temporary folder outside the repository, that references the packages from
# that feed and compiles docs/samples/LibraryGuideSample.cs (a GAN defined through the public API,
# trained a few steps, saved, reloaded; the library's trainer and ONNX export).
#
# Nothing outside the temporary folder changes: the version carries a unique suffix and packages
# are extracted into a private NUGET_PACKAGES folder, with the machine's package cache as a
# read-only fallback (so dependencies are not downloaded again, and no stale GpuGan package can be
# picked up from it); the tool goes into a private --tool-path, never the global tool folder.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
FEED="$WORK/feed"
VERSION_SUFFIX="ci.$(date -u +%Y%m%d%H%M%S).$$"
GLOBAL_PACKAGES="${NUGET_PACKAGES:-$HOME/.nuget/packages}"

dotnet pack "$ROOT/GpuGan.sln" -c Release --no-build -o "$FEED" -p:VersionSuffix="$VERSION_SUFFIX" -v:q -nologo
VERSION="$(ls "$FEED" | sed -nE 's/^GpuGan\.Tensors\.(.*)\.nupkg$/\1/p')"
echo "packed $VERSION:"
ls -l "$FEED"
for p in GpuGan.Tensors GpuGan.Layers GpuGan.Gan GpuGan.Cli; do
    [[ -f "$FEED/$p.$VERSION.nupkg" && -f "$FEED/$p.$VERSION.snupkg" ]] || { echo "missing $p $VERSION (.nupkg and .snupkg)" >&2; exit 1; }
done

cat > "$WORK/nuget.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <add key="gpugan-local" value="$FEED" />
  </packageSources>
  <fallbackPackageFolders>
    <add key="machine-cache" value="$GLOBAL_PACKAGES" />
  </fallbackPackageFolders>
</configuration>
XML
export NUGET_PACKAGES="$WORK/packages"

# The tool, from the local feed, into a private tool path.
(cd "$WORK" && dotnet tool install GpuGan.Cli --version "$VERSION" --tool-path "$WORK/tools" --add-source "$FEED")
"$WORK/tools/gpugan" --version
"$WORK/tools/gpugan" train --model gan --data sines --steps 5 --batch 16 --device cpu --threads 2 --out "$WORK/tool-run"
ls "$WORK/tool-run/generator.safetensors"

# The consumer: a new project outside the repository on the packages alone.
mkdir -p "$WORK/consumer"
cat > "$WORK/consumer/Consumer.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>net10.0</TargetFramework>
    <Nullable>enable</Nullable>
    <ImplicitUsings>enable</ImplicitUsings>
    <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
    <NuGetAudit>false</NuGetAudit>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="GpuGan.Gan" Version="$VERSION" />
  </ItemGroup>
</Project>
XML
cp "$ROOT/docs/samples/LibraryGuideSample.cs" "$WORK/consumer/"
cp "$ROOT/docs/samples/Program.cs.txt" "$WORK/consumer/Program.cs"
mkdir -p "$WORK/consumer-out"
(cd "$WORK/consumer" && dotnet run -c Release -- "$WORK/consumer-out")
