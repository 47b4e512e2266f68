"""Train a SentenceTransformer on a recipe's stages with SentenceTransformerTrainer; measure the work.

`fit` trains each stage in order and returns loss history, wall time, training pairs/s and
real vs padded tokens per pair (counted in the data collator, so the figures are what the
model actually saw), for the whole run and per stage.
"""

from __future__ import annotations

import math
import time

from .recipes import Plan


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
    steps_per_epoch = max(1, math.ceil(plan.num_pairs() / plan.batch_size))
    total_steps = max_steps or int(steps_per_epoch * plan.epochs)
    # A warmup below 1 is a fraction of the run; 1 or more is a number of steps (as in the original).
    warmup = recipe.warmup
    warmup_steps = int(round(warmup * total_steps)) if warmup < 1 else int(warmup)
    return SentenceTransformerTrainingArguments(
        output_dir=str(output_dir),
        num_train_epochs=plan.epochs,
        max_steps=max_steps or -1,
        per_device_train_batch_size=plan.batch_size,
        learning_rate=plan.learning_rate,
        warmup_steps=warmup_steps,
        weight_decay=recipe.weight_decay,
        max_grad_norm=1.0,
        lr_scheduler_type="linear",
        seed=seed,
        data_seed=seed,
        bf16=bf16,
        use_cpu=cpu,                  # bf16 autocast on a CPU needs this
        save_strategy="no",
        logging_strategy="steps",
        logging_steps=max(1, total_steps // 40),
        report_to="none",
        dataloader_num_workers=0,
        disable_tqdm=False,
    )


def _fit_stage(model, plan: Plan, recipe, seed: int, max_steps: int | None, bf16: bool, output_dir) -> dict:
    import torch
    from sentence_transformers import SentenceTransformerTrainer

    model[0].auto_model.get_input_embeddings().weight.requires_grad_(not plan.freeze_token_embeddings)
    if plan.dropout is not None:
        for module in model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = plan.dropout
    args = training_args(plan, recipe, seed, max_steps, bf16, model.device.type == "cpu", output_dir)
    args.batch_sampler = plan.batch_sampler
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=plan.datasets, loss=plan.losses)
    counter = CountingCollator(trainer.data_collator)
    trainer.data_collator = counter
    start = time.perf_counter()
    output = trainer.train()
    seconds = time.perf_counter() - start
    stats = counter.stats()
    stats.update({"stage": plan.name, "notes": plan.notes, "train_pairs": plan.num_pairs(),
                  "epochs": plan.epochs, "learning_rate": plan.learning_rate, "batch_size": plan.batch_size,
                  "steps": trainer.state.global_step, "train_seconds": round(seconds, 2),
                  "train_loss": output.training_loss,
                  "real_tokens": counter.real_tokens, "padded_tokens": counter.padded_tokens,
                  "loss_history": [{"step": h["step"], "loss": h["loss"]}
                                   for h in trainer.state.log_history if "loss" in h]})
    return stats


def fit(model, plans: list[Plan], recipe, seed: int, max_steps: int | None, bf16: bool, output_dir) -> dict:
    """Train `model` in place on `plans`, in order; return measurements."""
    done = [_fit_stage(model, plan, recipe, seed, max_steps, bf16, output_dir) for plan in plans]
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
