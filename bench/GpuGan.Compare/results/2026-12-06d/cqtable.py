import re,glob,collections
def load(pat):
    d=collections.defaultdict(list)
    for f in glob.glob(pat):
        for line in open(f):
            m=re.match(r"^(\S+ \S+ \S+)\s+(\S+)\s+(\S+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)",line)
            if m and m.group(1)[0] in "DM": d[(m.group(1),m.group(3))].append((float(m.group(5)),float(m.group(4))))
    return d
for tag in ["","m28-"]:
    o=load(f"bench/GpuGan.Compare/results/2026-12-06d/convquick-{tag}old-*.txt"); n=load(f"bench/GpuGan.Compare/results/2026-12-06d/convquick-{tag}new-*.txt")
    print("| layer | kernel | GFLOP | old ms (GF/s) | new ms (GF/s) |"); print("|---|---|---:|---:|---:|")
    to=tn=tf=0
    for k in o:
        mo=min(x[0] for x in o[k]); mn=min(x[0] for x in n[k]); fl=o[k][0][1]
        to+=mo; tn+=mn; tf+=fl
        print(f"| {k[0]} | {k[1]} | {fl:.3f} | {mo:.2f} ({fl/mo*1e3:.0f}) | {mn:.2f} ({fl/mn*1e3:.0f}) |")
    print(f"| total | | {tf:.2f} | {to:.1f} ({tf/to*1e3:.0f}, {tf/to*1e3/236*100:.0f} % of peak) | {tn:.1f} ({tf/tn*1e3:.0f}, {tf/tn*1e3/236*100:.0f} %) |")
    print()
