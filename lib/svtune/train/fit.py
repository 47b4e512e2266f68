"""Train a SentenceTransformer on a recipe's stages with SentenceTransformerTrainer; measure the work.

`fit` trains each stage in order and returns loss history, wall time, training pairs/s and
real vs padded tokens per pair (counted in the data collator, so the figures are what the
model actually saw), for the whole run and per stage.

Checkpoints (weights, optimizer, scheduler, RNG and data position) go to
<output_dir>/stage-<i>/ at every epoch's end and at least every CHECKPOINT_SECONDS;
`fit(..., resume=True)` continues from the newest one, skipping finished stages, and ends
with the model an uninterrupted run would have. Ctrl-C (SIGINT) stops at the end of the
current step with a checkpoint, then raises KeyboardInterrupt; a second Ctrl-C stops at once.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from pathlib import Path

from transformers import TrainerCallback
from transformers.trainer_callback import PrinterCallback

from svtune.progress import Progress
from svtune.train import distributed
from svtune.train.frozen import FrozenPrefix
from svtune.train.recipes import Plan

CHECKPOINT_SECONDS = 600.0   # long runs lose at most this much work to a crash
DONE = "done"                # marks a finished stage; its final weights are in stage-<i>/final


class Checkpoints(TrainerCallback):
    """A checkpoint every `seconds`, and a clean stop (with a checkpoint) after the first Ctrl-C."""

    def __init__(self, seconds: float):
        self.seconds, self.last, self.interrupted = seconds, time.monotonic(), False

    def on_step_end(self, args, state, control, **kwargs):
        if self.interrupted or time.monotonic() - self.last >= self.seconds:
            control.should_save = True
            self.last = time.monotonic()
        if self.interrupted:
            control.should_training_stop = True

    def __enter__(self) -> "Checkpoints":
        self._previous = None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.getsignal(signal.SIGINT)
            signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def _on_sigint(self, signum, frame):
        if self.interrupted:   # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.interrupted = True
        print("\ninterrupt: stopping after this step with a checkpoint (Ctrl-C again to stop at once)", flush=True)

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def latest_checkpoint(stage_dir: Path) -> Path | None:
    """The newest complete checkpoint of a stage (trainer_state.json is written last)."""
    done = [p for p in Path(stage_dir).glob("checkpoint-*") if (p / "trainer_state.json").is_file()]
    return max(done, key=lambda p: int(p.name.split("-")[1])) if done else None


class ConsoleProgress(TrainerCallback):
    """Training progress as plain lines (steps, loss, ETA) that reach a headless run's console."""

    def __init__(self, stage: str):
        self.stage, self.bar, self.loss = stage, None, None

    def on_train_begin(self, args, state, control, **kwargs):
        self.bar = Progress(f"train [{self.stage}]", state.max_steps, "steps").__enter__()

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:   # logged after on_step_end: show it with its own step
            self.loss = float(logs["loss"])
            self.bar.set(state.global_step, f"loss {self.loss:.4f}")

    def on_step_end(self, args, state, control, **kwargs):
        self.bar.set(state.global_step, f"loss {self.loss:.4f}" if self.loss is not None else "")

    def on_train_end(self, args, state, control, **kwargs):
        self.bar.set(state.global_step)   # fewer than planned when interrupted
        self.bar.__exit__(None, None, None)


class CountingCollator:
    """Wraps the trainer's collator; counts rows and real/padded tokens of every batch."""

    def __init__(self, inner):
        self.inner = inner
        self.rows = self.real_tokens = self.padded_tokens = self.batches = 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def __call__(self, features):
        batch = self.inner(features)
        self.rows += len(features)
        self.batches += 1
        for key, value in batch.items():
            if key.endswith("attention_mask"):
                self.real_tokens += int(value.sum())
                self.padded_tokens += int(value.numel())
        return batch

    def stats(self) -> dict:
        rows = max(self.rows, 1)
        return {"pairs_trained": self.rows, "batches": self.batches,
                "real_tokens_per_pair": round(self.real_tokens / rows, 2),
                "padded_tokens_per_pair": round(self.padded_tokens / rows, 2)}


def training_args(plan: Plan, recipe, seed: int, max_steps: int | None, bf16: bool, cpu: bool, output_dir):
    from sentence_transformers import SentenceTransformerTrainingArguments

    world = distributed.world_size()
    if plan.batch_size % world:
        raise ValueError(f"batch size {plan.batch_size} does not split over {world} processes")
    steps_per_epoch = max(1, math.ceil(plan.num_pairs() / plan.batch_size))
    total_steps = max_steps or int(steps_per_epoch * plan.epochs)
    # A warmup below 1 is a fraction of the run; 1 or more is a number of steps (as in the original).
    warmup = recipe.warmup
    warmup_steps = int(round(warmup * total_steps)) if warmup < 1 else int(warmup)
    return SentenceTransformerTrainingArguments(
        output_dir=str(output_dir),
        num_train_epochs=plan.epochs,
        max_steps=max_steps or -1,
        per_device_train_batch_size=plan.batch_size // world,   # the global batch stays the recipe's
        learning_rate=plan.learning_rate,
        warmup_steps=warmup_steps,
        weight_decay=recipe.weight_decay,
        optim=recipe.optimizer,
        max_grad_norm=1.0,
        lr_scheduler_type="linear",
        seed=seed,
        data_seed=seed,
        bf16=bf16,
        use_cpu=cpu,                  # bf16 autocast on a CPU needs this
        save_strategy="epoch",        # plus Checkpoints' timed ones
        save_total_limit=1,           # only the newest checkpoint is ever needed
        logging_strategy="steps",
        logging_steps=max(1, total_steps // 40),
        report_to="none",
        dataloader_num_workers=0,
        disable_tqdm=True,            # ConsoleProgress prints plain lines instead (progress.py)
    )


def _fit_stage(model, plan: Plan, recipe, seed: int, max_steps: int | None, bf16: bool, output_dir,
               resume_from: Path | None = None, callbacks: list | None = None) -> dict:
    import torch
    from sentence_transformers import SentenceTransformerTrainer

    model[0].auto_model.get_input_embeddings().weight.requires_grad_(not plan.freeze_token_embeddings)
    if plan.dropout is not None:
        for module in model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = plan.dropout
    args = training_args(plan, recipe, seed, max_steps, bf16, model.device.type == "cpu", output_dir)
    args.batch_sampler = plan.batch_sampler
    checkpoints = Checkpoints(CHECKPOINT_SECONDS)
    shown = [ConsoleProgress(plan.name)] if distributed.is_main() else []   # one progress line per step, not per rank
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=plan.datasets, loss=plan.losses,
                                         callbacks=[*shown, checkpoints, *(callbacks or [])])
    trainer.remove_callback(PrinterCallback)   # it prints every log dict; ConsoleProgress says it in a line
    counter = CountingCollator(trainer.data_collator)
    trainer.data_collator = counter
    start = time.perf_counter()
    with checkpoints, FrozenPrefix(model, recipe.freeze_layers, recipe.frozen_cache) as frozen:
        output = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    if checkpoints.interrupted:
        raise KeyboardInterrupt("interrupted (Ctrl-C) with a checkpoint saved")
    seconds = time.perf_counter() - start
    stats = counter.stats()
    stats.update({"stage": plan.name, "notes": plan.notes, "train_pairs": plan.num_pairs(),
                  "epochs": plan.epochs, "learning_rate": plan.learning_rate, "batch_size": plan.batch_size,
                  "steps": trainer.state.global_step, "train_seconds": round(seconds, 2),
                  "train_loss": output.training_loss,
                  "real_tokens": counter.real_tokens, "padded_tokens": counter.padded_tokens,
                  "resumed_from": resume_from.name if resume_from else None, **frozen.stats(),
                  "loss_history": [{"step": h["step"], "loss": h["loss"]}
                                   for h in trainer.state.log_history if "loss" in h]})
    return stats


def _load_weights(model, folder: Path) -> None:
    from sentence_transformers import SentenceTransformer
    model.load_state_dict(SentenceTransformer(str(folder), device=str(model.device)).state_dict())


def fit(model, plans: list[Plan], recipe, seed: int, max_steps: int | None, bf16: bool, output_dir,
        resume: bool = False, callbacks: list | None = None) -> dict:
    """Train `model` in place on `plans`, in order; return measurements. With `resume`, finished
    stages are skipped and an interrupted one continues from its newest checkpoint."""
    import json
    done = []
    for i, plan in enumerate(plans):
        stage_dir = Path(output_dir) / f"stage-{i}"
        if resume and (stage_dir / DONE).is_file():
            _load_weights(model, stage_dir / "final")   # the next stage starts from these
            done.append(json.loads((stage_dir / DONE).read_text()))
            continue
        checkpoint = latest_checkpoint(stage_dir) if resume else None
        stats = _fit_stage(model, plan, recipe, seed, max_steps, bf16, stage_dir, checkpoint, callbacks)
        if i < len(plans) - 1:   # what a resumed run needs to skip this stage
            model.save(str(stage_dir / "final"))
            (stage_dir / DONE).write_text(json.dumps(stats))
        done.append(stats)
    rows = sum(s["pairs_trained"] for s in done)
    seconds = sum(s["train_seconds"] for s in done)
    history, offset = [], 0
    for s in done:   # one step axis across stages, each point tagged with its stage
        history += [{**h, "step": h["step"] + offset, "stage": s["stage"]} for h in s.pop("loss_history")]
        offset += s["steps"]
    return {"recipe": recipe.name, "recipe_notes": "; then ".join(p.notes for p in plans),
            "train_pairs": sum(p.num_pairs() for p in plans), "pairs_trained": rows,
            "batches": sum(s["batches"] for s in done), "steps": offset,
            "real_tokens_per_pair": round(sum(s["real_tokens"] for s in done) / max(rows, 1), 2),
            "padded_tokens_per_pair": round(sum(s["padded_tokens"] for s in done) / max(rows, 1), 2),
            "train_seconds": round(seconds, 2),
            "pairs_per_second": round(rows / seconds, 2) if seconds else None,
            "train_loss": done[-1]["train_loss"], "loss_history": history, "stages": done}
