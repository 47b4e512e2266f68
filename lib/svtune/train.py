"""One fine-tuning run, step by step, into its own folder under outputs/runs/.

    run = Run.start(size="small")     # validate parameters, verify the base model, make the folder
    run.load_data()                    # catalog -> mined pairs (pairs.csv)
    run.evaluate("before")             # base model on the held-out queries and pairs
    run.train()                        # SentenceTransformerTrainer with the chosen recipe, then centering
    run.evaluate("after")              # the tuned model, same data
    run.finish()                       # metrics.json, then the folder gets its final name
    # or all of it at once: Run.start(size="small").run_all()

The folder is built as `.incomplete-<name>` and renamed only at the end, so an
interrupted run never looks complete. notebooks/train.ipynb is this, narrated;
`python -m svtune.run` executes that notebook into the folder.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import paths
from .catalog import Catalog, load_catalog
from .config import RunConfig, make_config, model_slug
from .mining import MiningReport, mine_pairs
from .models import attention_for, load_model, pick_device, resolve_base_model, supports_bf16
from .run import environment
from .fitting import fit


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Run:
    cfg: RunConfig
    dir: Path
    final_dir: Path
    managed: bool = False            # True when `python -m svtune.run` renames the folder
    model_info: dict = field(default_factory=dict)
    catalog: Catalog | None = None
    pairs: pd.DataFrame | None = None
    report: MiningReport | None = None
    model: object = None
    metrics: dict = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    use_bf16: bool = False           # train under bf16 autocast (seed keeps the original fp32)

    @classmethod
    def start(cls, run_dir: str = "", **params) -> "Run":
        cfg = make_config(**params)
        cfg.data_dir = str(paths.data_dir(cfg.data_dir))
        cfg.device = pick_device(cfg.device)
        source, info = resolve_base_model(cfg.base_model)   # refuses a bad base model up front
        if run_dir:
            folder, final, managed = Path(run_dir), Path(run_dir), True
        else:
            name = f"{time.strftime('%Y%m%d-%H%M%S')}-{cfg.size}-{model_slug(cfg.base_model)}"
            final = paths.RUNS_DIR / name
            folder, managed = paths.RUNS_DIR / (paths.INCOMPLETE_PREFIX + name), False
        folder.mkdir(parents=True, exist_ok=True)
        run = cls(cfg, folder, final, managed, info)
        run.use_bf16 = cfg.precision == "bf16" or (
            cfg.precision == "auto" and cfg.recipe != "seed" and supports_bf16(cfg.device))
        run._write_config(status="running")
        return run

    def _write_config(self, status: str) -> None:
        doc = {"status": status, "params": self.cfg.to_dict(), "base_model": self.model_info,
               "inputs_sha256": self.catalog.sha256() if self.catalog else {},
               "environment": environment()}
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
        self.metrics["data"] = {"statvars": len(self.catalog.statvars),
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
            self.model = load_model(self.cfg.base_model, self.cfg.device, self.cfg.max_seq_length,
                                    attention_for(self.cfg.device, self.use_bf16))
        return self.model

    def evaluate(self, stage: str) -> dict:
        """Held-out evaluation of the current model, stored under metrics[stage]."""
        from .evaluate import evaluate_run
        result = evaluate_run(self._model(), self.catalog, self.cfg)
        # Per-query and per-pair results go beside metrics.json, which keeps the aggregates.
        details = {"details": result.pop("details"), "names": result.pop("names")}
        (self.dir / f"eval_{stage}.json").write_text(json.dumps(details, default=float))
        self.metrics[stage] = result
        if stage == "after" and "before" in self.metrics:
            from .evaluate import deltas, health_check
            self.metrics["delta"] = deltas(self.metrics["before"], result)
            self.metrics["health"] = health_check(self.metrics["before"], result)
        return result

    def train(self) -> dict:
        """Fine-tune with the recipe; save the model into model/."""
        if self.pairs is None:
            self.load_data()
        scratch = self.dir / ".trainer"   # the Trainer wants an output_dir; nothing is kept there
        stats = fit(self._model(), self.pairs, self.cfg, self.use_bf16, scratch)
        shutil.rmtree(scratch, ignore_errors=True)
        if self.cfg.center:
            from .centering import center_model
            from .formats import index_from_catalog
            texts = sorted({s for s, _ in index_from_catalog(self.catalog)})
            stats["centering"] = center_model(self.model, texts, float(self.cfg.center))
        stats["precision"] = "bf16" if self.use_bf16 else "fp32"
        stats["peak_rss_mb"] = round(peak_rss_mb(), 1)
        self.model.save(str(self.dir / "model"))
        self.metrics["train"] = stats
        return stats

    def write_report(self) -> Path:
        """rank_diff.html: base vs tuned top-10 for the held-out queries (or cfg.report_queries)."""
        from .report import rank_diff, rank_diff_html
        out = self.dir / "rank_diff.html"
        before = json.loads((self.dir / "eval_before.json").read_text())
        after = json.loads((self.dir / "eval_after.json").read_text())
        names = after["names"]
        name = self.final_dir.name.removeprefix(paths.INCOMPLETE_PREFIX)
        title = f"Rank diff: {self.cfg.base_model} vs tuned ({name})"
        if self.cfg.report_queries:
            from .formats import index_from_catalog, read_queries
            queries = [q for q, _ in read_queries(paths.resolve(self.cfg.report_queries))]
            base = load_model(self.cfg.base_model, self.cfg.device, self.cfg.max_seq_length)
            return rank_diff(base, self._model(), index_from_catalog(self.catalog), queries, names, out, title)
        qb, qa = before["details"]["queries"], after["details"]["queries"]
        out.write_text(rank_diff_html([d["query"] for d in qb], [d["top"] for d in qb],
                                      [d["top"] for d in qa], names, title), encoding="utf-8")
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
        """Write metrics.json and give the folder its final name; returns that name."""
        self.metrics["wall_time_s"] = round(time.time() - self.started, 2)
        self.metrics["peak_rss_mb"] = round(peak_rss_mb(), 1)
        (self.dir / "metrics.json").write_text(json.dumps(self.metrics, indent=2, default=float))
        self._write_config(status="complete")
        if not self.managed:
            os.replace(self.dir, self.final_dir)
            self.dir = self.final_dir
        return self.final_dir
