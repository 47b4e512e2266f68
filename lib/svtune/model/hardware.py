"""What this machine can do: its CPU or GPU, measured matmul throughput, and the precision to train in.

CPU flags do not say whether bf16 pays (docs/experiments.md has CPUs with the same flags at half
and at five times the fp32 speed), so `auto` precision is chosen by measuring both, once per process.

    svtune hardware      # prints the device, fp32/bf16 GFLOP/s and the precision auto picks
"""

from __future__ import annotations

import functools
import os
import platform
import time
from pathlib import Path

# bf16 must beat fp32 by this much to be chosen: a tie is not worth bf16's rounding.
BF16_MIN_SPEEDUP = 1.2


def pick_device(device: str = "") -> str:
    import torch
    if device:
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def device_name(device: str = "") -> str:
    """The CPU or GPU model, as people name it."""
    import torch
    if pick_device(device).startswith("cuda"):
        return torch.cuda.get_device_name(0)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> set[str]:
    """The CPU's vector-unit flags that decide what is fast (avx2, avx512*, amx*): printed with every figure."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return {f for f in line.split(":", 1)[1].split() if f.startswith(("avx", "amx", "fma"))}
    except OSError:
        pass
    return set()


@functools.lru_cache(maxsize=None)
def matmul_gflops(dtype: str = "fp32", device: str = "cpu", seconds: float = 0.15) -> float:
    """Measured GFLOP/s of a transformer-shaped matmul (tokens x hidden x 4*hidden) in `dtype`."""
    import torch
    dt = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype]
    n, k, m = (2048, 1024, 4096) if device.startswith("cuda") else (1024, 384, 1536)
    a, b = torch.randn(n, k, dtype=dt, device=device), torch.randn(k, m, dtype=dt, device=device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    for _ in range(3):
        a @ b
    sync()
    reps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        reps += 1
    sync()
    return 2 * n * k * m * reps / (time.perf_counter() - start) / 1e9


def bf16_pays(device: str) -> bool:
    """True where bf16 autocast is worth it: a GPU that supports it, or a CPU measured faster in it."""
    import torch
    if device.startswith("cuda"):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return matmul_gflops("bf16", device) >= BF16_MIN_SPEEDUP * matmul_gflops("fp32", device)


def choose_precision(requested: str, device: str, recipe_allows_bf16: bool = True) -> str:
    """fp32 or bf16: what the user asked for, or for `auto` what measures faster here."""
    if requested in ("fp32", "bf16"):
        return requested
    return "bf16" if recipe_allows_bf16 and bf16_pays(device) else "fp32"


def flops_per_token(config, training: bool = True) -> float:
    """Approximate FLOPs per token of a BERT-style encoder from its HF config: 2 per weight in the
    forward pass (attention over short texts adds little), x3 with the backward pass."""
    h, layers, inter = config.hidden_size, config.num_hidden_layers, config.intermediate_size
    per_layer = 4 * h * h + 2 * h * inter       # Q, K, V, output projections + the two FFN matrices
    forward = 2 * layers * per_layer
    return forward * (3 if training else 1)


def threads() -> int:
    import torch
    return torch.get_num_threads()


def summary(device: str = "") -> dict:
    device = pick_device(device)
    return {"device": device, "name": device_name(device), "cores": os.cpu_count(), "torch_threads": threads(),
            "fp32_gflops": round(matmul_gflops("fp32", device), 1),
            "bf16_gflops": round(matmul_gflops("bf16", device), 1),
            "auto_precision": choose_precision("auto", device), "flags": sorted(cpu_flags())}

