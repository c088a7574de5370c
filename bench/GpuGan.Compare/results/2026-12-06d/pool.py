# Pools every timed iteration of a side over its runs; ratio = GpuGan / TorchSharp of the pooled medians, and per run.
import json, glob, statistics as st, sys
out = []
for t in (2, 1):
    for model in ("dcgan64", "dcgan28", "wgangp28"):
        row = {}
        for side in ("old", "new"):
            g, tr, runs, mem = [], [], [], []
            for f in sorted(glob.glob(f"bench/GpuGan.Compare/results/2026-12-06d/final-{side}-t{t}-*.json")):
                d = json.load(open(f))
                m = next(x for x in d["models"] if x["model"] == model)
                g += m["gpuGan"]["iterationMs"]; tr += m["torch"]["iterationMs"]
                runs.append(m["ratio"]); mem.append((m["gpuGan"]["peakRssMiB"], m["torch"]["peakRssMiB"]))
            if not g: continue
            row[side] = (st.median(g), min(g), st.median(tr), min(tr), runs, mem)
            gm, gmin, tm, tmin, r, mm = row[side]
            out.append(f"t{t} {model:9} {side}: GpuGan med {gm:7.1f} min {gmin:7.1f} (n={len(g)}) | Torch med {tm:7.1f} min {tmin:7.1f} | ratio med {gm/tm:.2f} min {gmin/tmin:.2f} | per run {' '.join(f'{x:.2f}' for x in r)} | RSS {' '.join(f'{a:.0f}/{b:.0f}' for a,b in mm)}")
        if "old" in row and "new" in row:
            out.append(f"t{t} {model:9} new/old GpuGan median {row['new'][0]/row['old'][0]:.3f}, min {row['new'][1]/row['old'][1]:.3f}; ratio-to-torch new/old {(row['new'][0]/row['new'][2])/(row['old'][0]/row['old'][2]):.3f}")
print("\n".join(out))
