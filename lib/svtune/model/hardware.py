"""What this machine can do: its CPU or GPU, measured matmul throughput, and the precision to train in.

CPU flags do not say whether bf16 pays (docs/experiments.md has CPUs with the same flags at half
and at five times the fp32 speed), so `auto` precision on a CPU is chosen by measuring both, once per
machine: the decision is cached under outputs/cache/precision/ (key: CPU model, its vector flags, the torch
version), so every later run on this machine decides the same, however loaded the machine is then.

    svtune hardware      # prints the device, fp32/bf16 GFLOP/s and the precision auto picks
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import time
from pathlib import Path

from svtune import paths

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
    """fp32 or bf16: what the user asked for, or for `auto` what this machine decided (precision_choice)."""
    return precision_choice(requested, device, recipe_allows_bf16)[0]


def precision_choice(requested: str, device: str, recipe_allows_bf16: bool = True) -> tuple[str, dict]:
    """(fp32 or bf16, where that came from: recorded in config.json as `precision_choice`)."""
    if requested in ("fp32", "bf16"):
        return requested, {"requested": requested, "source": "requested"}
    if not recipe_allows_bf16:
        return "fp32", {"requested": requested, "source": "the recipe trains in fp32 only"}
    if device.startswith("cuda"):
        bf16 = bf16_pays(device)
        return ("bf16" if bf16 else "fp32"), {"requested": requested, "source": "GPU capability"}
    record, source = cached_decision(device)
    return ("bf16" if record["bf16"] else "fp32"), {"requested": requested, "source": source, **record}


def machine_key() -> str:
    """What decides the CPU measurement: the CPU model, its vector flags and the torch version."""
    import torch
    text = json.dumps([device_name("cpu"), sorted(cpu_flags()), torch.__version__])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cached_decision(device: str = "cpu") -> tuple[dict, str]:
    """This machine's bf16-or-fp32 record, measured once and cached; the first run to write it wins, so
    two runs started at once agree (a run never re-measures while the cache is there)."""
    path = paths.CACHE_DIR / "precision" / f"{machine_key()}.json"
    record = _read_record(path)
    if record is not None:
        return record, f"cached measurement ({path})"
    record = {"bf16": bf16_pays(device), "fp32_gflops": round(matmul_gflops("fp32", device), 1),
              "bf16_gflops": round(matmul_gflops("bf16", device), 1), "cpu": device_name("cpu"),
              "flags": sorted(cpu_flags()), "measured": time.strftime("%Y-%m-%d %H:%M:%S")}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
        tmp.write_text(json.dumps(record, indent=2))
        try:
            os.link(tmp, path)          # atomic and never replaces: the first writer's record stays
        except FileExistsError:
            if _read_record(path) is None:
                os.replace(tmp, path)   # an unreadable cache file (a crash mid-copy): replaced
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as e:                 # a read-only outputs folder: this run's measurement, said so
        return record, f"measured now, not cached ({e.strerror})"
    first = _read_record(path)
    if first is not None and first != record:
        return first, f"cached measurement ({path}), written by a run that started at the same time"
    return record, f"measured now, cached in {path}"


def _read_record(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("bf16"), bool) else None


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
    auto, why = precision_choice("auto", device)
    return {"device": device, "name": device_name(device), "cores": os.cpu_count(), "torch_threads": threads(),
            "fp32_gflops": round(matmul_gflops("fp32", device), 1),
            "bf16_gflops": round(matmul_gflops("bf16", device), 1),
            "auto_precision": auto, "auto_precision_source": why["source"], "flags": sorted(cpu_flags())}


if __name__ == "__main__":   # scripts/gpu_check.sh runs `python -m svtune.model.hardware`: the summary as JSON
    print(json.dumps(summary(), indent=2))
