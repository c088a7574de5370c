#!/usr/bin/env python3
# Compares GpuGan's resize (ImageSharp's resamplers, dumped by `GpuGan.Bench resize-dump OUT 64 FILES`) with PIL's:
# torchvision's Resize(64, antialias=True) + CenterCrop(64) on a PIL image is exactly PIL's resize of the shorter side to
# 64 (long side int(64 * long / short)) and a crop at round((long - 64) / 2). Prints the mean absolute difference (0..255)
# of every ImageSharp filter against every PIL filter, over all files. Needs Debian's python3-pil and python3-numpy.
import sys, os
import numpy as np
from PIL import Image

out, size, files = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
ours = ["area", "bilinear", "bicubic", "lanczos"]
pil = {"BOX": Image.BOX, "BILINEAR": Image.BILINEAR, "BICUBIC": Image.BICUBIC, "LANCZOS": Image.LANCZOS}

def torchvision_like(img, flt):
    w, h = img.size
    if w <= h: nw, nh = size, int(size * h / w)
    else: nw, nh = int(size * w / h), size
    img = img.resize((nw, nh), flt)
    top, left = int(round((nh - size) / 2.0)), int(round((nw - size) / 2.0))
    return np.asarray(img.crop((left, top, left + size, top + size)), dtype=np.int32)

diffs = {(o, p): [] for o in ours for p in pil}
for f in files:
    img = Image.open(f).convert("RGB")
    name = os.path.splitext(os.path.basename(f))[0]
    for p, flt in pil.items():
        ref = torchvision_like(img, flt)
        for o in ours:
            got = np.fromfile(os.path.join(out, f"{name}.{o}.rgb"), dtype=np.uint8).reshape(size, size, 3).astype(np.int32)
            diffs[(o, p)].append(np.abs(got - ref).mean())
print("mean |ImageSharp - PIL| over", len(files), "images, 0..255 scale")
print("%-10s" % "", " ".join("%9s" % p for p in pil))
for o in ours:
    print("%-10s" % o, " ".join("%9.3f" % np.mean(diffs[(o, p)]) for p in pil))
