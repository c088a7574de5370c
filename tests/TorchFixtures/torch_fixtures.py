#!/usr/bin/env python3
"""PyTorch reference fixtures for GpuGan's tests, written to tests/fixtures/pytorch/ (safetensors).

Generated with Debian's python3-torch (PyTorch 1.13, CPU float32 kernels):
    apt-get install -y python3-torch && /usr/bin/python3 tests/TorchFixtures/torch_fixtures.py
(Program.cs next to this file is the TorchSharp generator of the older fixtures in tests/fixtures/torch;
it needs a libtorch download, which this script does not.) The output is deterministic: seeded torch
generators, and GpuGan's own counter-based random stream ported below for the values the C# side
draws itself (the penalty's α, the critic inputs).

Three kinds of file, read by tests/Ops/Common/PyTorchFixtureTests.cs and tests/Gan/GradientPenaltyTests.cs:

op_*.safetensors   one op (metadata "op" and its parameters; "inputs" lists the tensors fed to it, "grad"
                   the ones differentiated). Upstream u (shape of y) and one direction v_<name> per
                   differentiated input. y; first order d_<name> = ∂⟨y, u⟩/∂<name>; second order, with
                   the first taken with create_graph and u requiring grad: dd_<name> and dd_u =
                   ∂(Σ_name ⟨d_<name>, v_<name>⟩)/∂(<name>, u); zeros where PyTorch's graph is unconnected.
convt_random.safetensors
                   randomized conv_transpose2d configurations (stride, padding, dilation, output padding,
                   odd sizes, non-square kernels), metadata "cases" a JSON list; valid ones carry
                   c<i>.x/.w/.b/.u and PyTorch's c<i>.y/.dx/.dw/.db; invalid ones (PyTorch raises) only
                   their parameters and PyTorch's error.
gp_*.safetensors   the WGAN-GP penalty on the critic GpuGan ships (GanModel.Create for wgan-gp: DCGAN
                   critic, Conv k4 s2 p1 stages without bias, LeakyReLU 0.2, optional LayerNorm, a final
                   valid conv to one score), weights "param.<state-dict name>", the penalty
                   λ·mean((‖∇D(x̂)‖ − 1)²) at x̂ = α·real + (1 − α)·fake, its gradients "grad.<name>" and
                   "grad.input" (w.r.t. x̂). real and fake are U(−1, 1) from GpuGan RandomStream seeds,
                   α from the seed the test passes to GradientPenalty; the weights are chosen so that
                   no LeakyReLU input lies within 1e-4 of the kink (metadata preact_min_abs).
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "fixtures", "pytorch")
GENERATOR = f"tests/TorchFixtures/torch_fixtures.py (PyTorch {torch.__version__}, CPU float32)"
torch.set_num_threads(1)


# ---------------------------------------------------------------- safetensors (F32 only)

def write_safetensors(path, tensors, meta):
    names = sorted(tensors)  # one dtype: the reference orders by name
    header = {"__metadata__": {k: str(v) for k, v in sorted(meta.items())}}
    blobs, offset = [], 0
    for n in names:
        a = np.array(tensors[n], dtype="<f4", order="C")  # (ascontiguousarray would make a 0-d scalar 1-d)
        b = a.tobytes()
        header[n] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    print(f"{os.path.basename(path):44s} {os.path.getsize(path):8d} bytes")


def np32(t):
    t = t.detach()
    # PyTorch ≥ 1.12 returns some structural zeros (sgn's double backward) as storage-less "efficient zero
    # tensors"; .numpy() on one reads unallocated memory.
    if t._is_zerotensor():
        return np.zeros(tuple(t.shape), np.float32)
    return t.contiguous().to(torch.float32).numpy().copy()


# ---------------------------------------------------------------- GpuGan's RandomStream (src/Tensors/Ops/Random/RandomFill.cs)

MASK = (1 << 64) - 1
PHI, KC, CC = 0x9E3779B97F4A7C15, 0xD1B54A32D192ED03, 0x632BE59BD9B4E019
M1, M2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def hash64(seed, counter):
    z = (seed * PHI + counter * KC + CC) & MASK
    z = ((z ^ (z >> 30)) * M1) & MASK
    z = ((z ^ (z >> 27)) * M2) & MASK
    return z ^ (z >> 31)


def uniform_fill(seed, n, low, high, start=0):
    """Tensor.RandU(shape, new RandomStream(seed), low: low, high: high): low + (high − low)·u in float32."""
    u = np.array([hash64(seed, start + i) >> 40 for i in range(n)], dtype=np.float32) * np.float32(1.0 / 16777216.0)
    return np.float32(low) + np.float32(np.float32(high) - np.float32(low)) * u


# ---------------------------------------------------------------- single ops (format 2)

def op_fixture(name, op, meta, inputs, grad, fn, seed):
    torch.manual_seed(seed)
    ts = {k: torch.tensor(v, dtype=torch.float32, requires_grad=(k in grad)) for k, v in inputs.items()}
    y = fn(ts)
    u = torch.randn(y.shape).requires_grad_()
    vs = {k: torch.randn(ts[k].shape) for k in grad}
    first = torch.autograd.grad([y], [ts[k] for k in grad], [u], create_graph=True, allow_unused=True)
    first = [f if f is not None else torch.zeros_like(ts[k]) for f, k in zip(first, grad)]
    inner = sum((f * vs[k]).sum() for f, k in zip(first, grad))
    wrt = [ts[k] for k in grad] + [u]
    second = torch.autograd.grad([inner], wrt, allow_unused=True) if inner.requires_grad else [None] * len(wrt)
    out = {k: np32(ts[k]) for k in inputs}
    out["u"] = np32(u)
    out["y"] = np32(y)
    for f, k in zip(first, grad):
        out["d_" + k] = np32(f)
        out["v_" + k] = np32(vs[k])
    for s, k in zip(second, list(grad) + ["u"]):
        ref = ts[k] if k != "u" else u
        out["dd_" + k] = np32(s) if s is not None else np.zeros(tuple(ref.shape), np.float32)
    m = {"format": "2", "op": op, "inputs": ",".join(inputs), "grad": ",".join(grad), "case": name, "generator": GENERATOR}
    m.update(meta)
    write_safetensors(os.path.join(OUT, name + ".safetensors"), out, m)


def rnd(seed, shape, scale=1.0, shift=0.0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(shape, generator=g) * scale + shift).numpy()


def rnd_uniform(seed, shape, lo, hi):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=g) * (hi - lo) + lo).numpy()


def away_from_zero(seed, shape, lo=0.2, hi=2.0):
    g = torch.Generator().manual_seed(seed)
    mag = torch.rand(shape, generator=g) * (hi - lo) + lo
    sign = torch.where(torch.rand(shape, generator=g) < 0.5, -1.0, 1.0)
    return (mag * sign).numpy()


def ops():
    op_fixture("op_tanh", "tanh", {}, {"x": rnd(1, (3, 4, 5), 1.5)}, ["x"], lambda t: torch.tanh(t["x"]), 11)
    op_fixture("op_sigmoid", "sigmoid", {}, {"x": rnd(2, (3, 4, 5), 1.5)}, ["x"], lambda t: torch.sigmoid(t["x"]), 12)
    op_fixture("op_leaky_relu", "leaky_relu", {"slope": "0.2"}, {"x": away_from_zero(3, (3, 4, 5))}, ["x"],
               lambda t: F.leaky_relu(t["x"], 0.2), 13)
    op_fixture("op_instance_norm2d_affine", "instance_norm2d", {"eps": "1e-05"},
               {"x": rnd(4, (2, 3, 4, 5), 1.5, 0.3), "w": rnd_uniform(5, (3,), 0.5, 1.5), "b": rnd(6, (3,))}, ["x", "w", "b"],
               lambda t: F.instance_norm(t["x"], weight=t["w"], bias=t["b"], eps=1e-5), 14)
    op_fixture("op_instance_norm2d_plain", "instance_norm2d", {"eps": "1e-05"}, {"x": rnd(7, (1, 2, 3, 3), 1.2, -0.4)}, ["x"],
               lambda t: F.instance_norm(t["x"], eps=1e-5), 15)
    op_fixture("op_layer_norm_nd", "layer_norm", {"eps": "1e-05"},
               {"x": rnd(8, (4, 7), 1.3), "w": rnd_uniform(9, (7,), 0.5, 1.5), "b": rnd(10, (7,))}, ["x", "w", "b"],
               lambda t: F.layer_norm(t["x"], (7,), t["w"], t["b"], 1e-5), 16)
    op_fixture("op_batch_norm_nc_train", "batch_norm_train", {"eps": "1e-05"},
               {"x": rnd(17, (6, 5), 1.1, 0.5), "w": rnd_uniform(18, (5,), 0.5, 1.5), "b": rnd(19, (5,))}, ["x", "w", "b"],
               lambda t: F.batch_norm(t["x"], None, None, t["w"], t["b"], True, 0.1, 1e-5), 20)
    op_fixture("op_bce_with_logits", "bce_with_logits", {},
               {"x": rnd_uniform(21, (3, 7), -4, 4), "t": rnd_uniform(22, (3, 7), 0, 1)}, ["x", "t"],
               lambda t: F.binary_cross_entropy_with_logits(t["x"], t["t"]), 23)
    # PyTorch has no derivative of binary_cross_entropy w.r.t. the target.
    op_fixture("op_bce", "bce", {}, {"x": rnd_uniform(24, (3, 5), 0.1, 0.9), "t": rnd_uniform(25, (3, 5), 0, 1)}, ["x"],
               lambda t: F.binary_cross_entropy(t["x"], t["t"]), 26)
    op_fixture("op_mse", "mse", {}, {"x": rnd(27, (3, 5, 3)), "t": rnd(28, (3, 5, 3))}, ["x", "t"],
               lambda t: F.mse_loss(t["x"], t["t"]), 29)
    l1x = away_from_zero(30, (3, 5, 3))
    l1t = rnd_uniform(31, (3, 5, 3), -0.1, 0.1)  # x − t stays ≥ 0.1 from the kink
    op_fixture("op_l1", "l1", {}, {"x": l1x, "t": l1t}, ["x", "t"], lambda t: F.l1_loss(t["x"], t["t"]), 32)
    ct = {"stride": "2", "padding": "1", "output_padding": "1", "dilation": "2"}
    op_fixture("op_conv_transpose2d_dilated", "conv_transpose2d", ct,
               {"x": rnd(33, (2, 3, 4, 5)), "w": rnd(34, (3, 2, 3, 3), 0.3), "b": rnd(35, (2,))}, ["x", "w", "b"],
               lambda t: F.conv_transpose2d(t["x"], t["w"], t["b"], stride=2, padding=1, output_padding=1, dilation=2), 36)


# ---------------------------------------------------------------- randomized conv_transpose2d

def convt_random(count=64, seed=2024):
    rng = np.random.default_rng(seed)
    cases, out = [], {}
    configs = [dict(n=1, cin=1, cout=1, h=2, w=2, kh=2, kw=2, s=1, p=0, d=2, op=1, bias=False)]  # the example
    while len(configs) < count:
        s, d = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        # Mostly a valid output padding (below stride or dilation), one in six at the limit (PyTorch rejects it).
        op = int(rng.integers(0, max(s, d))) if rng.random() < 5 / 6 else max(s, d)
        configs.append(dict(n=int(rng.integers(1, 3)), cin=int(rng.integers(1, 4)), cout=int(rng.integers(1, 4)),
                            h=int(rng.integers(1, 6)), w=int(rng.integers(1, 6)), kh=int(rng.integers(1, 5)), kw=int(rng.integers(1, 5)),
                            s=s, p=int(rng.integers(0, 3)), d=d, op=op, bias=bool(rng.integers(0, 2))))
    torch.manual_seed(seed)
    for i, c in enumerate(configs):
        key = f"c{i:02d}"
        x = torch.randn(c["n"], c["cin"], c["h"], c["w"]).requires_grad_()
        w = (torch.randn(c["cin"], c["cout"], c["kh"], c["kw"]) * 0.4).requires_grad_()
        b = torch.randn(c["cout"]).requires_grad_() if c["bias"] else None
        entry = dict(c, key=key)
        try:
            y = F.conv_transpose2d(x, w, b, stride=c["s"], padding=c["p"], output_padding=c["op"], dilation=c["d"])
        except RuntimeError as e:
            entry["valid"] = False
            entry["error"] = str(e).splitlines()[0][:160]
            cases.append(entry)
            continue
        u = torch.randn(y.shape)
        grads = torch.autograd.grad([y], [x, w] + ([b] if b is not None else []), [u])
        entry["valid"] = True
        entry["out"] = list(y.shape)
        cases.append(entry)
        out[key + ".x"], out[key + ".w"], out[key + ".u"], out[key + ".y"] = np32(x), np32(w), np32(u), np32(y)
        out[key + ".dx"], out[key + ".dw"] = np32(grads[0]), np32(grads[1])
        if b is not None:
            out[key + ".b"], out[key + ".db"] = np32(b), np32(grads[2])
    meta = {"cases": json.dumps(cases, separators=(",", ":")), "generator": GENERATOR,
            "rule": "PyTorch: output_padding < stride or < dilation; output size (H−1)s − 2p + d(k−1) + op + 1 ≥ 1"}
    write_safetensors(os.path.join(OUT, "convt_random.safetensors"), out, meta)
    print(f"  {sum(c['valid'] for c in cases)} valid, {sum(not c['valid'] for c in cases)} rejected by PyTorch")


# ---------------------------------------------------------------- WGAN-GP penalty on the shipped critic

def critic_layers(size, channels, width, layer_norm):
    """Networks.DcganDiscriminatorLayers + its final conv, in the same Sequential order (state-dict names main.<i>)."""
    layers, spatial = [], size

    def stage(cin, cout, first):
        nonlocal spatial
        layers.append(nn.Conv2d(cin, cout, 4, 2, 1, bias=False))
        spatial //= 2
        if not first and layer_norm:
            layers.append(nn.LayerNorm([cout, spatial, spatial], eps=1e-5))
        layers.append(nn.LeakyReLU(0.2))

    if size == 28:
        stage(channels, width, True)
        stage(width, width * 2, False)
        top = width * 2
    elif size == 64:
        stage(channels, width, True)
        stage(width, width * 2, False)
        stage(width * 2, width * 4, False)
        stage(width * 4, width * 8, False)
        top = width * 8
    else:
        raise ValueError(size)
    layers.append(nn.Conv2d(top, 1, spatial, 1, 0, bias=False))
    return nn.Sequential(*layers)


class Critic(nn.Module):
    def __init__(self, main):
        super().__init__()
        self.main = main

    def forward(self, x):
        return self.main(x).reshape(x.shape[0])


def preactivations(critic, x):
    seen = []
    hooks = [m.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].detach()))
             for m in critic.modules() if isinstance(m, nn.LeakyReLU)]
    with torch.no_grad():
        critic(x)
    for h in hooks:
        h.remove()
    return seen


def gp_fixture(name, size, channels, width, layer_norm, batch, penalty_weight=10.0, margin=1e-4):
    seeds = dict(real=7001 + size, fake=7002 + size, alpha=7003 + size)
    shape = (batch, channels, size, size)
    n = int(np.prod(shape))
    real = torch.tensor(uniform_fill(seeds["real"], n, -1, 1).reshape(shape))
    fake = torch.tensor(uniform_fill(seeds["fake"], n, -1, 1).reshape(shape))
    alpha = torch.tensor(uniform_fill(seeds["alpha"], batch, 0, 1).reshape(batch, 1, 1, 1))
    xh = (real * alpha + fake * (1 - alpha)).detach()
    # Weights: He-scaled normal convs (‖∇D‖ of order one, so the penalty is not a constant), LayerNorm affine
    # away from the identity; the first seed whose LeakyReLU inputs all stay ≥ margin from the kink.
    for attempt in range(1000):
        torch.manual_seed(9000 + 97 * size + attempt + (500 if layer_norm else 0))
        critic = Critic(critic_layers(size, channels, width, layer_norm))
        with torch.no_grad():
            for m in critic.modules():
                if isinstance(m, nn.Conv2d):
                    fan_in = m.weight.shape[1] * m.weight.shape[2] * m.weight.shape[3]
                    m.weight.normal_(0, math.sqrt(2.0 / fan_in))
                elif isinstance(m, nn.LayerNorm):
                    m.weight.copy_(1 + 0.2 * torch.randn_like(m.weight))
                    m.bias.copy_(0.2 * torch.randn_like(m.bias))
        pre = preactivations(critic, xh)
        low = min(float(p.abs().min()) for p in pre)
        if low >= margin:
            break
    else:
        raise RuntimeError(f"{name}: no weights with every pre-activation ≥ {margin} from the kink")
    x = xh.clone().requires_grad_()
    score = critic(x)
    g, = torch.autograd.grad([score], [x], [torch.ones_like(score)], create_graph=True)
    norm = (g.pow(2).sum(dim=(1, 2, 3)) + 1e-12).sqrt()
    penalty = (norm - 1).pow(2).mean() * penalty_weight
    params = list(critic.named_parameters())
    grads = torch.autograd.grad([penalty], [p for _, p in params] + [x])
    out = {"param." + k: np32(p) for k, p in params}
    out.update({"grad." + k: np32(gr) for (k, _), gr in zip(params, grads)})
    out["grad.input"] = np32(grads[-1])
    out["alpha"] = np32(alpha.reshape(batch))
    out["penalty"] = np32(penalty.reshape(1))
    out["grad_norm"] = np32(norm)
    out["real_head"] = np32(real.reshape(-1)[:16])
    out["fake_head"] = np32(fake.reshape(-1)[:16])
    meta = {"size": str(size), "channels": str(channels), "width": str(width), "norm": "layer" if layer_norm else "none",
            "batch": str(batch), "penalty_weight": str(penalty_weight), "seed_real": str(seeds["real"]),
            "seed_fake": str(seeds["fake"]), "seed_alpha": str(seeds["alpha"]), "preact_min_abs": repr(low),
            "attempt": str(attempt), "generator": GENERATOR, "case": name}
    write_safetensors(os.path.join(OUT, name + ".safetensors"), out, meta)
    print(f"  penalty {float(penalty):.6g}, ‖∇D‖ {[round(float(v), 4) for v in norm]}, min |pre-activation| {low:.3g} (attempt {attempt})")


def main():
    os.makedirs(OUT, exist_ok=True)
    ops()
    convt_random()
    gp_fixture("gp_wgan_gp_28", 28, 1, 8, False, 3)
    gp_fixture("gp_wgan_gp_28_layernorm", 28, 1, 8, True, 3)
    gp_fixture("gp_wgan_gp_64", 64, 3, 4, False, 2)
    gp_fixture("gp_wgan_gp_64_layernorm", 64, 3, 4, True, 2)


if __name__ == "__main__":
    main()
