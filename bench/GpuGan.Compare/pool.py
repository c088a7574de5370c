# Pools every timed iteration of a side over its runs of GpuGan.Compare --json; ratio = GpuGan / TorchSharp of the pooled
# medians, and per run. Usage (from the repository root): python3 bench/GpuGan.Compare/pool.py FOLDER SIDE_A SIDE_B,
# with the runs saved as FOLDER/<side>-t<threads>-<n>.json (e.g. results/2026-12-06e direct winograd).
import json, glob, statistics as st, sys
folder, a, b = sys.argv[1], sys.argv[2], sys.argv[3]
out = []
for t in (2, 1):
    for model in ("dcgan64", "dcgan28", "wgangp28"):
        row = {}
        for side in (a, b):
            g, tr, runs, mem = [], [], [], []
            for f in sorted(glob.glob(f"{folder}/{side}-t{t}-*.json")):
                d = json.load(open(f))
                m = next((x for x in d["models"] if x["model"] == model), None)
                if m is None: continue  # a run of other models only
                g += m["gpuGan"]["iterationMs"]; tr += m["torch"]["iterationMs"]
                runs.append(m["ratio"]); mem.append((m["gpuGan"]["peakRssMiB"], m["torch"]["peakRssMiB"]))
            if not g: continue
            row[side] = (st.median(g), min(g), st.median(tr), min(tr), runs, mem)
            gm, gmin, tm, tmin, r, mm = row[side]
            out.append(f"t{t} {model:9} {side}: GpuGan med {gm:7.1f} min {gmin:7.1f} (n={len(g)}) | Torch med {tm:7.1f} min {tmin:7.1f} | ratio med {gm/tm:.2f} min {gmin/tmin:.2f} | per run {' '.join(f'{x:.2f}' for x in r)} | RSS {' '.join(f'{x:.0f}/{y:.0f}' for x,y in mm)}")
        if a in row and b in row:
            out.append(f"t{t} {model:9} {b}/{a} GpuGan median {row[b][0]/row[a][0]:.3f}, min {row[b][1]/row[a][1]:.3f}; ratio-to-torch {b}/{a} {(row[b][0]/row[b][2])/(row[a][0]/row[a][2]):.3f}")
print("\n".join(out))
