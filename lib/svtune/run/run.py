"""One fine-tuning run, step by step, in its own folder under outputs/runs/ (what the notebook calls).

    run = Run.start(size="small")     # validate parameters, verify the base model, make the folder
    run.load_data()                    # catalog -> mined pairs (pairs.csv)
    run.evaluate("before")             # base model on the held-out queries and pairs
    run.train()                        # fit the recipe, then finalize: centre, save model/
    run.evaluate("after")              # the tuned model, same data
    run.write_report()                 # rank_diff.html
    run.finish()                       # metrics.json; the folder gets its final name
    # or all of it at once: Run.start(size="small").run_all()

The folder's life is folder.py, what it records provenance.py, the checks before it checks.py;
notebooks/train.ipynb is this, narrated, and `svtune train` executes that notebook (launch.py).
"""

from __future__ import annotations

import functools
import json
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from svtune import paths, runs
from svtune.data.catalog import load_catalog
from svtune.data.formats import index_from_catalog, read_queries
from svtune.data.heldout import seed_for
from svtune.data.mining import MiningReport, mine_pairs
from svtune.data.records import Catalog
from svtune.model.embeddings import set_fingerprint
from svtune.model.hardware import pick_device, precision_choice
from svtune.model.load import attention_for, load_model, resolve_base_model
from svtune.run import launch, teacher_cache
from svtune.run.checks import check_disk, check_inputs, resume_params
from svtune.run.config import RunConfig, make_config, model_slug
from svtune.run.folder import CHECKPOINTS, create_run_dir, earlier_attempts, failed_on_stop, final_dir, reopen
from svtune.run.provenance import PeakRSS, environment, reproduce_command
from svtune.run.served import join_dc_pairs, served_evaluation
from svtune.train import distributed
from svtune.train.finalize import finalize_model
from svtune.train.teacher import annotate, space


def timed(step: str):
    """Record the wall time of a Run step in metrics["timings_s"] (the per-step breakdown)."""
    def wrap(fn):
        @functools.wraps(fn)
        def inner(self, *args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(self, *args, **kwargs)
            finally:
                key = step.format(*args, **kwargs)
                self.metrics.setdefault("timings_s", {})[key] = round(time.perf_counter() - start, 2)
        return inner
    return wrap


@dataclass
class Run:
    cfg: RunConfig
    dir: Path
    model_info: dict = field(default_factory=dict)
    catalog: Catalog | None = None
    pairs: pd.DataFrame | None = None
    report: MiningReport | None = None
    model: object = None
    metrics: dict = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    device: str = "cpu"
    precision: str = "fp32"          # what training runs in (recipes that allow bf16 take it where it pays)
    precision_choice: dict = field(default_factory=dict)   # where `precision` came from (hardware.precision_choice)
    memory: PeakRSS | None = None    # samples this process's memory from start() to finish()
    teacher_space: object = None    # the teacher's embeddings of the pairs' texts, when the recipe distils them
    attempts: list = field(default_factory=list)   # a resumed run's earlier stops: {reason, failed_at}
    owns_folder: bool = False        # made (or reopened) here, not by the launcher, which marks its own failures

    @classmethod
    def start(cls, run_dir: str = "", **params) -> "Run":
        """Validate every parameter and the base model, then open the run folder (`run_dir`, when
        the launcher made it, else a new one; with `resume`, the interrupted run's own folder)."""
        began = time.perf_counter()
        # Library progress bars are widgets in a notebook and walls of lines in a log; a run prints
        # its own progress lines instead (progress.py).
        os.environ.setdefault("TQDM_DISABLE", "1")
        if params.get("resume"):
            params = resume_params(params)
            run_dir = run_dir or str(reopen(paths.resolve(params["resume"])))
        # The launcher checked everything before it made `run_dir`; any other entry (papermill, a
        # notebook of the user's own) is checked here, before a folder exists.
        cfg = make_config(**params) if run_dir else check_inputs(params)
        if cfg.hp.tuned_teacher and not cfg.teacher:   # a notebook of the user's own: the teacher first
            cfg.teacher = teacher_cache.ensure(cfg, launch.main)
        _, info = resolve_base_model(cfg.base_model)
        if not info["verified"]:
            print(f"base model {cfg.base_model}: no official sha256 to check it against; its weights' sha256 "
                  f"{info['sha256']} is recorded in config.json", flush=True)
        owns = not run_dir or bool(params.get("resume"))
        folder = Path(run_dir) if run_dir else create_run_dir(cfg.size, model_slug(cfg.base_model))
        folder.mkdir(parents=True, exist_ok=True)
        run = cls(cfg, folder, info, memory=PeakRSS().__enter__(), attempts=earlier_attempts(folder), owns_folder=owns)
        run.device = pick_device()
        recorded = runs.read_config(folder).get("precision") if cfg.resume else None
        if recorded in ("fp32", "bf16"):   # a resumed run continues in the precision it started in
            run.precision, run.precision_choice = recorded, {"requested": cfg.precision, "source": "resumed run"}
        else:
            run.precision, run.precision_choice = precision_choice(cfg.precision, run.device, cfg.hp.bf16)
        run._write_config(status=runs.RUNNING)
        distributed.init()
        distributed.share(str(folder))   # the other ranks (torchrun) learn where the run lives
        run.metrics["timings_s"] = {"start": round(time.perf_counter() - began, 2)}
        return run

    @classmethod
    def worker(cls) -> None:
        """Rank 1..N-1 of a multi-process run: wait for rank 0's folder and data, train its shard
        of every batch, and leave the rest (evaluation, saving) to rank 0."""
        distributed.init()
        folder = distributed.share()
        doc = runs.read_config(folder)
        cfg = make_config(**doc["params"])
        run = cls(cfg, Path(folder), doc["base_model"], precision=doc["precision"])
        run.device = pick_device()
        distributed.barrier()   # rank 0 has written pairs.csv (and its teacher grades)
        run.pairs = pd.read_csv(run.dir / "pairs.csv", keep_default_na=False)
        run.train()
    def _write_config(self, status: str, **extra) -> None:
        params = self.cfg.to_dict()
        if status == runs.COMPLETE:   # the folder it resumed is this one, renamed: `attempts` keeps the story
            params["resume"] = ""
        doc = {"status": status, "pid": os.getpid(), **extra, "params": params,
               "recipe": self.cfg.hp.values(), "world_size": distributed.world_size(),
               "precision": self.precision, "precision_choice": self.precision_choice, "base_model": self.model_info,
               "inputs_sha256": self.catalog.sha256() if self.catalog else {},
               "environment": environment(self.device), "command": reproduce_command(self.cfg, self.precision)}
        if self.attempts:
            doc["attempts"] = self.attempts
        (self.dir / runs.CONFIG).write_text(json.dumps(doc, indent=2))

    @timed("load_data")
    def load_data(self) -> pd.DataFrame:
        """Load and validate the catalog, mine the pairs and save them as pairs.csv."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            self.catalog = load_catalog(self.cfg.data_dir, self.cfg.size, self.cfg.max_statvars,
                                        heldout_seed=seed_for(self.cfg), eval_dir=self.cfg.eval_dir)
        for w in caught:
            print("warning:", w.message)
        self.pairs, self.report = mine_pairs(self.catalog)
        served = None
        if self.cfg.dc_dir:   # Data Commons' catalog, served beside the owner's, trained on beside it
            self.pairs, served = join_dc_pairs(self.cfg, self.pairs)
        self.pairs.to_csv(self.dir / "pairs.csv", index=False)
        h = self.catalog.hierarchy
        self.metrics["data"] = {"statvars": self.catalog.num_statvars, "topics": self.catalog.num_topics,
                                "peer_groups": sum(t.kind != "Topic" for t in h.topics.values()) if h else 0,
                                "topic_members_outside_catalog": h.unknown_members if h else 0,
                                "pairs": len(self.pairs), "pairs_per_source": self.report.counts,
                                "duplicates": self.report.duplicates,
                                "self_pairs_dropped": self.report.dropped_self_pairs,
                                "label_conflicts": len(self.report.conflicts),
                                "unknown_alternative_dcids": self.catalog.unknown_alternative_dcids,
                                "heldout_shared": self.catalog.heldout_shared,   # curated pairs sharing a held-out text
                                "warnings": self.catalog.warnings, **({"served_beside": served} if served else {})}
        self._write_config(status=runs.RUNNING)
        print(self.report.summary())
        return self.pairs

    def _model(self):
        if self.model is None:
            hp = self.cfg.hp
            attention = attention_for(self.device, self.precision == "bf16") if hp.attention == "auto" else hp.attention
            self.model = load_model(self.cfg.base_model, self.device, hp.max_seq_length, attention)
        return self.model

    @timed("evaluate_{0}")
    def evaluate(self, stage: str) -> dict:
        """Held-out evaluation of the current model, stored under metrics[stage] (a resumed run
        keeps the base model's evaluation it already made)."""
        from svtune.eval.evaluate import deltas, evaluate_run, health_check
        saved = self.dir / runs.eval_file(stage)
        if self.cfg.resume and stage == "before" and saved.is_file():
            result = runs.read_eval(self.dir, stage)["summary"]
        else:
            result = evaluate_run(self._model(), self.catalog, self.cfg)
            # Per-query and per-pair results go beside metrics.json, which keeps the aggregates.
            details = {"details": result.pop("details"), "names": result.pop("names"), "summary": result}
            saved.write_text(json.dumps(details, default=float))
        self.metrics[stage] = result
        if stage == "after" and "before" in self.metrics:
            self.metrics["delta"] = deltas(self.metrics["before"], result)
            self.metrics["health"] = health_check(self.metrics["before"], result)
        return result

    @timed("evaluate_served")
    def evaluate_served(self) -> dict | None:
        """With -p dc_dir: the search as a custom DC serves it, the owner's index merged with Data Commons'
        medium index (run/served.py), stored under metrics["served"]; None without dc_dir."""
        if not self.cfg.dc_dir:
            return None
        base = load_model(self.cfg.base_model, self.device, self.cfg.hp.max_seq_length)
        result = served_evaluation(self.cfg, self.catalog, self._model(), base)
        (self.dir / runs.eval_file("served")).write_text(json.dumps(result, default=float))
        self.metrics["served"] = {k: v for k, v in result.items() if k != "details"}
        return self.metrics["served"]

    @timed("train")
    def train(self, callbacks: list | None = None) -> dict:
        """Fit the recipe, then finalize: centre, save model/, fingerprint, prime the cache."""
        from svtune.train.fit import fit
        began = time.perf_counter()
        if self.pairs is None:
            self.load_data()
        model, hp = self._model(), self.cfg.hp
        if self.cfg.teacher and ("teacher" not in self.pairs or (hp.distils and self.teacher_space is None)):
            self.grade_with_teacher()   # on a rerun or another rank: from the cache, in seconds
        if distributed.is_main():
            distributed.barrier()   # pairs.csv is final: the other ranks may read it (Run.worker)
        plans = hp.plans(self.pairs, model, self.cfg.seed, teacher=self.teacher_space)
        check_disk(self.dir, self.model_info)
        set_fingerprint(model, None)   # its weights are about to change: nothing of it may be cached
        prepared = time.perf_counter()
        stats = fit(model, plans, hp, self.cfg.seed, self.cfg.max_steps, self.precision == "bf16",
                    self.dir / CHECKPOINTS, resume=bool(self.cfg.resume), callbacks=callbacks)
        fitted = time.perf_counter()
        distributed.leave()   # nothing after training needs the other ranks
        if not distributed.is_main():
            return stats   # rank 0 centres, saves and evaluates the one model
        stats["precision"], stats["peak_rss_mb"] = self.precision, self.memory.mb
        texts = sorted({s for s, _ in index_from_catalog(self.catalog)}) if hp.center else []
        done = finalize_model(model, self.dir / "model", texts, hp.center, self.dir / CHECKPOINTS,
                              merge=(self.cfg.base_model, hp.merge_base))
        stats.update({k: v for k, v in done.items() if k != "seconds"})
        stats["seconds"] = {"prepare": round(prepared - began, 2), "fit": round(fitted - prepared, 2),
                            **done["seconds"]}
        self.metrics["train"] = stats
        return stats

    @timed("grade_with_teacher")
    def grade_with_teacher(self) -> dict:
        """The teacher's calibrated label on every pair, plus its neighbour pairs (teacher.py);
        pairs.csv is saved again with them."""
        print(f"grading pairs with the teacher {self.cfg.teacher} ...", flush=True)
        start = time.perf_counter()
        teacher = load_model(self.cfg.teacher, self.device)
        self.pairs, info = annotate(teacher, self.catalog, self.pairs, self.cfg.hp.neighbour_pairs)
        if self.cfg.hp.distils:
            student = self._model() if self.cfg.hp.embeds_teacher else None
            self.teacher_space = space(teacher, self.pairs, **info["calibration"], student=student,
                                       catalog_texts=[t for t, _ in index_from_catalog(self.catalog)])
        _, info["model"] = resolve_base_model(self.cfg.teacher)
        teacher_run = paths.resolve(self.cfg.teacher)
        if runs.run_problem(teacher_run) is None:   # a run folder: a teacher tuned on a catalog (teacher_cache.py)
            info["tuned_from"] = runs.params(teacher_run)["base_model"]
        info["seconds"] = round(time.perf_counter() - start, 1)
        if distributed.is_main():
            self.pairs.to_csv(self.dir / "pairs.csv", index=False)
        self.metrics["teacher"] = info
        return info

    @timed("write_report")
    def write_report(self) -> Path | None:
        """rank_diff.html: base vs tuned top-10 for the held-out queries (or cfg.report_queries)."""
        from svtune.eval.report import rank_diff, rank_diff_from_evals
        out = self.dir / "rank_diff.html"
        title = f"Rank diff: {self.cfg.base_model} vs tuned ({final_dir(self.dir).name})"
        if self.cfg.report_queries:
            queries = read_queries(paths.resolve(self.cfg.report_queries))
            names = runs.read_eval(self.dir, "after")["names"]
            base = load_model(self.cfg.base_model, self.device, self.cfg.hp.max_seq_length)
            return rank_diff(base, self._model(), index_from_catalog(self.catalog), [q for q, _ in queries],
                             names, out, title, expected=[e for _, e in queries])
        evals = [runs.read_eval(self.dir, s) for s in runs.EVALS]
        if not evals[1]["details"]["queries"]:
            return None   # no held-out queries (-p eval_dir none): no page pretending to compare
        out.write_text(rank_diff_from_evals(*evals, title), encoding="utf-8")
        return out

    def run_all(self) -> Path:
        """Every step, as notebooks/train.ipynb runs them; returns the finished folder."""
        with failed_on_stop(self):
            self.load_data()
            self.evaluate("before")
            self.train()
            self.evaluate("after")
            self.evaluate_served()
            self.write_report()
            return self.finish()

    def finish(self) -> Path:
        """Write metrics.json (with the paired bootstrap of tuned vs base), mark the run complete and
        give the folder its final name."""
        from svtune.eval.evaluate import paired_differences
        evals = [runs.read_eval(self.dir, s)["details"] for s in ("after", "before")]
        self.metrics["bootstrap"] = {"a": "tuned", "b": "base", **paired_differences(*evals)}
        self.metrics["wall_time_s"] = round(time.time() - self.started, 2)
        self.memory.__exit__(None, None, None)
        self.metrics["peak_rss_mb"] = self.memory.mb
        (self.dir / runs.METRICS).write_text(json.dumps(self.metrics, indent=2, default=float))
        self._write_config(status=runs.COMPLETE)
        from svtune.ship.card import write_card
        write_card(self.dir)   # model/README.md: base model, data, recipe, held-out results, how to load
        final = final_dir(self.dir)
        if final != self.dir:
            os.replace(self.dir, final)
            self.dir = final
        return final
