"""Full: the whole pipeline per recipe (mining, before/after evaluation, training, saving), with the
held-out sets evaluated at CURVE_POINTS points during training: wall time, quality and
time-to-quality (the training time after which MRR@10 and Spearman stay within QUALITY_TOLERANCE
of their final values). `svtune bench --full`."""

from __future__ import annotations

import time
from pathlib import Path

from svtune import paths
from svtune.data.formats import index_from_catalog, read_index, read_queries
from svtune.eval.headline import (
    AUTOGEN_MRR,
    MRR,
    PAIRS,
    RETRIEVAL,
    SPEARMAN,
    SPEARMAN_HELDOUT,
    TOPIC_MRR,
    before_after,
    get,
    headline,
)
from svtune.model.load import load_model
from svtune.run.folder import failed_on_stop
from svtune.run.provenance import PeakRSS
from svtune.run.run import Run
from svtune.train.centering import CentredView

CURVE_POINTS = 8              # held-out evaluations during a full run's training (time-to-quality)
QUALITY_TOLERANCE = 0.005

def _quality_curve(run, points: int):
    """A callback evaluating the held-out sets during training, its time not counted as training."""
    from transformers import TrainerCallback

    from svtune.eval.evaluate import evaluate_run
    texts = sorted({s for s, _ in index_from_catalog(run.catalog)})

    class Curve(TrainerCallback):
        def __init__(self):
            self.rows, self.spent, self.offset, self.start = [], 0.0, 0, None

        def on_train_begin(self, args, state, control, **kwargs):
            self.start, self.every = time.perf_counter(), max(1, state.max_steps // points)

        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step % self.every == 0 and state.global_step < state.max_steps:
                self.evaluate(state.global_step)

        def on_train_end(self, args, state, control, **kwargs):
            self.offset += state.global_step
            self.spent += time.perf_counter() - self.start

        def evaluate(self, step):
            began = time.perf_counter()
            was_training = run.model.training
            run.model.eval()
            view = CentredView(run.model, texts, float(run.cfg.hp.center))
            m = evaluate_run(view, run.catalog, run.cfg)
            run.model.train(was_training)
            h = headline(m)
            self.rows.append({"step": self.offset + step, "train_seconds": round(self.spent + began - self.start, 1),
                              MRR: h[MRR], SPEARMAN: h[SPEARMAN]})
            self.start += time.perf_counter() - began   # evaluation time is not training time
    return Curve()


def time_to_quality(curve: list[dict], final: dict, seconds: float) -> float:
    """Training seconds after which MRR@10 and Spearman stay within QUALITY_TOLERANCE of the final ones."""
    points = curve + [{"train_seconds": seconds, **final}]
    reached = seconds
    for p in reversed(points):
        if all(p[k] is not None and p[k] >= final[k] - QUALITY_TOLERANCE for k in (MRR, SPEARMAN)):
            reached = p["train_seconds"]
        else:
            break
    return reached


def transfer_mrr(model, index: str, queries: str) -> float:
    """MRR@10 of `model` on another (larger) index: does the tuning carry over to a catalog it was
    not tuned on?"""
    from svtune.eval.evaluate import evaluate_model
    rows, _ = read_index(paths.resolve(index))
    return headline(evaluate_model(model, rows, read_queries(paths.resolve(queries)), []))[MRR]


def transfer(run_dir: Path, base_model: str, index: str, queries: str) -> list[float]:
    """transfer_mrr of a run's base and tuned model."""
    return [transfer_mrr(load_model(m), index, queries) for m in (base_model, str(Path(run_dir) / "model"))]


def full(recipe: str, params: dict, curve: bool = True, transfer_index: str = "") -> dict:
    """The whole pipeline for one recipe, as `make train` runs it (without the notebook)."""
    start = time.perf_counter()
    with PeakRSS() as mem:
        run = Run.start(recipe=recipe, **params)
        with failed_on_stop(run):
            run.load_data()
            run.evaluate("before")
            callback = _quality_curve(run, CURVE_POINTS) if curve else None
            run.train(callbacks=[callback] if callback else None)
            run.evaluate("after")
            run.write_report()
            folder = run.finish()
    m = run.metrics
    b, a = m["before"], m["after"]
    moved = (transfer(folder, run.cfg.base_model, transfer_index, a["files"]["queries"])
             if transfer_index and a["files"]["queries"] else None)
    figures = before_after(b, a)
    final = {k: figures[k][1] for k in (MRR, SPEARMAN)}
    curve_rows = callback.rows if callback else []
    train_seconds = callback.spent if callback else m["train"]["train_seconds"]
    return {"recipe": recipe, "run": str(folder), "wall_seconds": round(time.perf_counter() - start, 1),
            "evaluation_seconds_during_training": round(m["train"]["seconds"]["fit"] - train_seconds, 1),
            "train_seconds": round(train_seconds, 1),   # the quality curve's evaluations left out
            "pairs_per_second": round(m["train"]["pairs_trained"] / max(train_seconds, 1e-9), 2),
            "time_to_quality_seconds": round(time_to_quality(curve_rows, final, train_seconds), 1),
            "curve": curve_rows, "timings_s": m.get("timings_s"),
            # "2+1": two epochs, then one epoch of the scored stage (twostage)
            "epochs": (f"{run.cfg.hp.epochs:g}+{run.cfg.hp.scored_epochs:g}" if run.cfg.hp.scored_epochs
                       else run.cfg.hp.epochs),
            "peak_rss_mb": mem.mb, "precision": m["train"]["precision"],
            MRR: figures[MRR],
            "recall@1": [get(e, RETRIEVAL, "recall@1") for e in (b, a)],
            "ndcg@10": [get(e, RETRIEVAL, "ndcg@10") for e in (b, a)],
            "queries": get(a, RETRIEVAL, "queries"),
            "transfer_mrr@10": moved,
            TOPIC_MRR: figures[TOPIC_MRR],
            AUTOGEN_MRR: figures[AUTOGEN_MRR],
            SPEARMAN_HELDOUT: figures[SPEARMAN],
            "heldout_pairs": get(a, PAIRS, "pairs", default=0),
            "weak_below_mid": [get(e, PAIRS, "band_order", "0.05-0.3 < 0.3-0.7") for e in (b, a)],
            "low_band_cosine": [get(e, PAIRS, "band_mean_cosine", "<=0.05") for e in (b, a)],
            "nonsense_max": [b["collapse"]["nonsense_max"], a["collapse"]["nonsense_max"]],
            "random_pair_cosine": [b["collapse"]["random_pair_mean_cosine"],
                                   a["collapse"]["random_pair_mean_cosine"]],
            "healthy": m["health"]["ok"]}
