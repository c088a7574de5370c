#!/usr/bin/env python3
"""EMA-WARMUP.md's figures and decision rules from the W-t{T}-{variant}-seed{S}.json scores."""
import json, math, os, statistics as st
D = os.path.dirname(os.path.abspath(__file__))
V = ["a", "b", "c", "raw"]
T = [1, 2, 3]
M = ["frechet-distance", "kid", "precision", "recall", "density", "coverage", "class-entropy-bits"]
x = {(t, v, s): json.load(open(f"{D}/W-t{t}-{v}-seed{s}.json")) for t in T for v in V for s in (1, 2, 3)}
per = {(t, v, m): st.mean(x[t, v, s][m] for s in (1, 2, 3)) for t in T for v in V for m in M}   # mean over scoring seeds

print("FD per training seed (scoring seeds 1, 2, 3 -> mean); KID mean")
for v in V:
    for t in T:
        f = [x[t, v, s]["frechet-distance"] for s in (1, 2, 3)]
        print(f"  {v:3} t{t}: FD {', '.join(f'{y:.2f}' for y in f)} -> {per[t, v, 'frechet-distance']:.2f}   KID {per[t, v, 'kid']:.4f}")
print("\nmean ± sd over training seeds (of the per-seed means)")
for v in V:
    cells = []
    for m in M:
        ys = [per[t, v, m] for t in T]
        cells.append(f"{m} {st.mean(ys):.4g} ± {st.stdev(ys):.2g}")
    print(f"  {v:3}: " + "; ".join(cells))

def paired(X, Y):
    d = [per[t, X, "frechet-distance"] - per[t, Y, "frechet-distance"] for t in T]
    Dm, sd = st.mean(d), st.stdev(d)
    kx, ky = st.mean(per[t, X, "kid"] for t in T), st.mean(per[t, Y, "kid"] for t in T)
    bound = 2 * sd / math.sqrt(3)
    if all(e < 0 for e in d) and Dm < -bound and kx < ky: verdict = f"{X} beats {Y}"
    elif all(e > 0 for e in d) and Dm > bound and kx > ky: verdict = f"{Y} beats {X}"
    else: verdict = "no difference resolved"
    return d, Dm, sd, bound, kx, ky, verdict

print("\npaired rule (d_i = FD_X,i - FD_Y,i over training seeds)")
for X, Y in [("b", "a"), ("c", "a"), ("c", "b"), ("b", "raw"), ("c", "raw"), ("a", "raw")]:
    d, Dm, sd, bound, kx, ky, verdict = paired(X, Y)
    print(f"  {X} vs {Y}: d = {', '.join(f'{e:+.3f}' for e in d)}; D = {Dm:+.3f}, s_d = {sd:.3f}, 2 s_d/sqrt3 = {bound:.3f}; KID {kx:.4f} vs {ky:.4f} -> {verdict}")

print("\nRESULTS.md's unpaired rule, training seed 1 alone (s = larger FD sd over scoring seeds)")
for X, Y in [("b", "a"), ("c", "a"), ("b", "raw"), ("c", "raw")]:
    fx = [x[1, X, s]["frechet-distance"] for s in (1, 2, 3)]; fy = [x[1, Y, s]["frechet-distance"] for s in (1, 2, 3)]
    kx = st.mean(x[1, X, s]["kid"] for s in (1, 2, 3)); ky = st.mean(x[1, Y, s]["kid"] for s in (1, 2, 3))
    s = max(st.stdev(fx), st.stdev(fy)); mx, my = st.mean(fx), st.mean(fy)
    v = f"{X} better" if mx < my - 2 * s and kx < ky else f"{Y} better" if my < mx - 2 * s and ky < kx else "no difference resolved"
    print(f"  {X} vs {Y}: {mx:.2f} vs {my:.2f}, s = {s:.2f} -> {v}")
