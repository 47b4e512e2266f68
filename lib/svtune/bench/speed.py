"""Speed: train each recipe for the same number of steps and report steady-state pairs/s against
this machine's limit: its measured fp32/bf16 matmul GFLOP/s over the model's FLOPs per token and
the real tokens per pair. `svtune bench` (`make bench`)."""

from __future__ import annotations

import time

from svtune.model import hardware
from svtune.model.load import resolve_base_model
from svtune.run.provenance import PeakRSS
from svtune.run.run import Run

STARTUP_STEPS = 3             # steps left out of the speed figure: data loading and first-call costs

def machine(base_model: str = "all-MiniLM-L6-v2") -> dict:
    """This machine's measured limits and the model's cost per token."""
    from transformers import AutoConfig
    source, _ = resolve_base_model(base_model)
    config = AutoConfig.from_pretrained(source)
    return {**hardware.summary(), "base_model": base_model,
            "train_flops_per_token": hardware.flops_per_token(config, training=True),
            "forward_flops_per_token": hardware.flops_per_token(config, training=False)}


def _limit(hw: dict, precision: str, real_tokens_per_pair: float) -> float:
    """Pairs/s at the machine's measured matmul speed, if every FLOP were a matmul."""
    return hw[f"{precision}_gflops"] * 1e9 / (hw["train_flops_per_token"] * real_tokens_per_pair)


def _step_clock():
    from transformers import TrainerCallback

    class StepClock(TrainerCallback):
        def __init__(self):
            self.times = []

        def on_step_end(self, args, state, control, **kwargs):
            self.times.append(time.perf_counter())
    return StepClock()


def speed(recipe: str, steps: int, params: dict, hw: dict) -> dict:
    """Train `steps` steps of `recipe` from a fresh base model; steady-state throughput figures."""
    import shutil
    import tempfile
    scratch = tempfile.mkdtemp(prefix="svtune-bench-")   # the trained model is not kept
    clock = _step_clock()
    try:
        # Centring happens after the timed steps and its model is thrown away: skip it.
        overrides = {**params.get("overrides", {}), "center": 0.0}
        run = Run.start(recipe=recipe, max_steps=steps, run_dir=scratch, **{**params, "overrides": overrides})
        run.load_data()
        with PeakRSS() as mem:
            stats = run.train(callbacks=[clock])
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    batch = run.cfg.hp.batch_size
    timed = clock.times[STARTUP_STEPS - 1:]
    steady = (len(timed) - 1) * batch / (timed[-1] - timed[0]) if len(timed) > 1 else stats["pairs_per_second"]
    limit = _limit(hw, stats["precision"], stats["real_tokens_per_pair"])
    return {"recipe": recipe, "batch_size": batch, "device": run.device, "precision": stats["precision"],
            "steps": stats["steps"], "pairs_per_second": round(steady, 1),
            "pairs_per_second_with_startup": stats["pairs_per_second"],
            "real_tokens_per_pair": stats["real_tokens_per_pair"],
            "padded_tokens_per_pair": stats["padded_tokens_per_pair"],
            "limit_pairs_per_second": round(limit, 1), "share_of_limit": round(steady / limit, 3),
            "peak_rss_mb": mem.mb}
