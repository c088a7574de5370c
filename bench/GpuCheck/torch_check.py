#!/usr/bin/env python3
"""The PyTorch + cuDNN side of the GpuGan device kit: one training iteration of each model in
models.json (the file GpuGan's side reads, so the architectures cannot drift), timed on the GPU.

The iteration mirrors GpuGan's GanModel.TrainStep the way bench/GpuGan.Compare/TorchSide.cs does:
  dcgan:   one G forward serves both steps; D step: BCE-with-logits(D(x), 1) + BCE(D(G(z).detach()), 0),
           one backward, the D(x) and D(G(z)) means, the loss and D's gradient norm read back, Adam step;
           G step: BCE(D(G(z)), 1) with D's parameters switched off (gradients for G only), G's
           gradient norm and loss read back, Adam step.
  wgan-gp: 5 critic steps, each with a fresh real batch and G(z) under no_grad, loss
           D(G(z)) - D(x) + 10 * mean((||grad_xhat D(xhat)|| - 1)^2), xhat = a*x + (1-a)*G(z),
           a ~ U[0, 1] per sample, the norm sqrt(sum g^2 + 1e-12), create_graph; then one G step on
           fresh noise with loss -mean(D(G(z))).
Networks: no biases, BatchNorm2d, ReLU / LeakyReLU(0.2) in place (as pytorch/examples), Tanh;
DCGAN init (conv weights N(0, 0.02), BN weight N(1, 0.02), bias 0); Adam with models.json's
hyperparameters. Real batches: a pool of four random host tensors in [-1, 1], each uploaded with
.to(device) when the step takes it (pageable, as pytorch/examples; GpuGan's side uploads the same way).
One difference from TorchSide.cs, on purpose: a gradient norm is read back with one .item() per
network (torch.stack of per-parameter norms), as a PyTorch user writes it, not one per parameter.

Timing: float32 with TF32 off (torch.backends.cuda.matmul.allow_tf32 = cudnn.allow_tf32 = False),
then with TF32 on; torch.backends.cudnn.benchmark = True; warm-up iterations (cuDNN's autotuning
happens there), then iterations each followed by torch.cuda.synchronize(), median of the timed ones.

Works on PyTorch 1.13 (Debian's CPU build, the dry run) and on recent PyTorch.

  python3 torch_check.py --models models.json --out torch.json [--device cuda|cpu] [--dry-run]
"""
import argparse
import json
import math
import platform
import statistics
import sys
import time
import traceback

import torch
from torch import nn
import torch.nn.functional as F


def channels(expression, nz, nc, width):
    if expression == "nz":
        return nz
    if expression == "nc":
        return nc
    if expression.endswith("w"):
        return int(expression[:-1]) * width
    return int(expression)


def build(stages, transposed, nz, nc, width):
    layers = []
    for s in stages:
        cin, cout = channels(s["in"], nz, nc, width), channels(s["out"], nz, nc, width)
        conv = nn.ConvTranspose2d if transposed else nn.Conv2d
        layers.append(conv(cin, cout, s["kernel"], s["stride"], s["padding"], bias=False))
        if s["norm"]:
            layers.append(nn.BatchNorm2d(cout))
        act = s["act"]
        if act == "relu":
            layers.append(nn.ReLU(inplace=True))
        elif act == "leaky":
            layers.append(nn.LeakyReLU(0.2, inplace=True))
        elif act == "tanh":
            layers.append(nn.Tanh())
        elif act != "none":
            raise ValueError(f"unknown activation {act}")
    return nn.Sequential(*layers)


def dcgan_init(module):
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.normal_(m.weight, 0.0, 0.02)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)


def grad_norm(module):
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    with torch.no_grad():
        return torch.sqrt(torch.stack([g.square().sum() for g in grads]).sum()).item()


class Model:
    def __init__(self, spec, scale, device, seed):
        torch.manual_seed(seed)
        self.spec, self.device = spec, device
        self.n, self.nz = scale["batch"], scale["nz"]
        nc, width = spec["channels"], scale["width"]
        self.g = build(spec["generator"], True, self.nz, nc, width).to(device)
        self.d = build(spec["discriminator"], False, self.nz, nc, width).to(device)
        dcgan_init(self.g)
        dcgan_init(self.d)
        self.g.train()
        self.d.train()
        o = spec["optimizer"]
        if o["name"] != "adam":
            raise ValueError(f"optimizer {o['name']} is not implemented here")
        betas = (o["beta1"], o["beta2"])
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=o["lr"], betas=betas, eps=o["eps"])
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=o["lr"], betas=betas, eps=o["eps"])
        size = spec["size"]
        self.real = [torch.rand(self.n, nc, size, size) * 2 - 1 for _ in range(4)]
        self.ones = torch.ones(self.n, device=device)
        self.zeros = torch.zeros(self.n, device=device)
        self.next = 0

    def next_real(self):
        x = self.real[self.next % len(self.real)]
        self.next += 1
        return x.to(self.device)

    def noise(self):
        return torch.randn(self.n, self.nz, 1, 1, device=self.device)

    def step(self):
        if self.spec["loss"] == "wasserstein":
            self.wgan_gp_step()
        else:
            self.dcgan_step()

    def dcgan_step(self):
        real = self.next_real()
        fake_for_g = self.g(self.noise())
        fake = fake_for_g.detach()
        self.opt_d.zero_grad()
        out_real = self.d(real).view(-1)
        out_fake = self.d(fake).view(-1)
        loss = F.binary_cross_entropy_with_logits(out_real, self.ones) + F.binary_cross_entropy_with_logits(out_fake, self.zeros)
        with torch.no_grad():
            _ = out_real.sigmoid().mean().item()
            _ = out_fake.sigmoid().mean().item()
        loss.backward()
        _ = loss.item()
        _ = grad_norm(self.d)
        self.opt_d.step()
        self.generator_step(fake_for_g, wasserstein=False)

    def wgan_gp_step(self):
        lam, eps = float(self.spec["penalty"]), 1e-12
        for _ in range(self.spec["criticSteps"]):
            real = self.next_real()
            with torch.no_grad():
                fake = self.g(self.noise())
            self.opt_d.zero_grad()
            mean_real = self.d(real).view(-1).mean()
            mean_fake = self.d(fake).view(-1).mean()
            loss = mean_fake - mean_real
            _ = mean_real.item()
            _ = mean_fake.item()
            alpha = torch.rand(self.n, 1, 1, 1, device=self.device)
            with torch.no_grad():
                mixed = real * alpha + fake * (1 - alpha)
            mixed.requires_grad_(True)
            score = self.d(mixed).view(-1)
            grad = torch.autograd.grad([score], [mixed], [torch.ones_like(score)], retain_graph=True, create_graph=True)[0]
            norm = (grad.square().sum([1, 2, 3]) + eps).sqrt()
            penalty = (norm - 1).square().mean() * lam
            _ = penalty.item()
            loss = loss + penalty
            loss.backward()
            _ = loss.item()
            _ = grad_norm(self.d)
            self.opt_d.step()
        self.generator_step(self.g(self.noise()), wasserstein=True)

    def generator_step(self, fake_for_g, wasserstein):
        self.opt_g.zero_grad()
        for p in self.d.parameters():
            p.requires_grad_(False)
        out = self.d(fake_for_g).view(-1)
        loss = -out.mean() if wasserstein else F.binary_cross_entropy_with_logits(out, self.ones)
        loss.backward()
        for p in self.d.parameters():
            p.requires_grad_(True)
        _ = grad_norm(self.g)
        self.opt_g.step()
        _ = loss.item()


def set_tf32(enabled):
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled


def time_model(spec, scale, device, tf32, seed, warmup, max_iters, budget_s, say):
    set_tf32(tf32)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    model = Model(spec, scale, device, seed)
    t0 = time.perf_counter()
    for _ in range(warmup):
        model.step()
    sync()
    warmup_ms = (time.perf_counter() - t0) * 1e3
    times = []
    start = time.perf_counter()
    while len(times) < max_iters and (len(times) < 3 or time.perf_counter() - start < budget_s):
        t = time.perf_counter()
        model.step()
        sync()
        times.append((time.perf_counter() - t) * 1e3)
    result = {
        "model": spec["id"], "title": spec["title"], "batch": scale["batch"], "tf32": tf32,
        "warmupIterations": warmup, "warmupMs": warmup_ms, "iterationMs": times,
        "medianMs": statistics.median(times), "minMs": min(times),
    }
    say(f"{spec['id']} TF32 {'on ' if tf32 else 'off'}: median {result['medianMs']:.2f} ms/iteration "
        f"(min {result['minMs']:.2f}, {len(times)} timed, warm-up {warmup} in {warmup_ms:.0f} ms)")
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--dry-run", action="store_true", help="tiny shapes (models.json's dryRun scale), one iteration")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--budget-s", type=float, default=6.0, help="timed seconds per model and TF32 setting (full run)")
    args = ap.parse_args()

    begin = time.perf_counter()

    def say(line):
        print(f"[torch {time.perf_counter() - begin:6.1f} s] {line}", flush=True)

    with open(args.models) as f:
        models = json.load(f)
    scale = models["dryRun"] if args.dry_run else models["full"]
    if args.device == "cuda" and not torch.cuda.is_available():
        say("torch.cuda.is_available() is False")
        sys.exit(3)
    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = True
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    report = {
        "torch": torch.__version__,
        "device": name,
        "cudnn": torch.backends.cudnn.version() if device.type == "cuda" else None,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "dryRun": args.dry_run,
        "scale": scale,
        "method": "fresh model per (model, TF32) pair; warm-up iterations, then iterations each followed by "
                  "torch.cuda.synchronize() until the count or the time budget; median. cudnn.benchmark on.",
        "results": [],
        "errors": [],
    }
    warmup, max_iters, budget = (0, 1, 0.0) if args.dry_run else (5, 100, args.budget_s)
    say(f"PyTorch {torch.__version__} on {name}; {'DRY RUN (tiny shapes)' if args.dry_run else 'full shapes'}; "
        f"batch {scale['batch']}, nz {scale['nz']}, width {scale['width']}")
    for spec in models["models"]:
        for tf32 in (False, True):
            try:
                report["results"].append(time_model(spec, scale, device, tf32, args.seed, warmup, max_iters, budget, say))
            except Exception as e:  # keep the other models' figures
                say(f"{spec['id']} TF32 {tf32} failed: {e!r}")
                report["errors"].append(f"{spec['id']} tf32={tf32}: {e!r}\n{traceback.format_exc()}")
            with open(args.out, "w") as f:
                json.dump(report, f, indent=2)
    set_tf32(False)
    say(f"done: {args.out}")
    sys.exit(1 if report["errors"] else 0)


if __name__ == "__main__":
    main()
