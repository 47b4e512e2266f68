"""A run folder's life: a unique `.incomplete-<name>` while it is written, `<name>` when complete,
`<name>.failed` (reason in config.json) when it stops, reopened to resume; `svtune clean` lists
(and deletes) the ones that will never complete."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

from svtune import paths, runs
from svtune.data.csvio import DataError
from svtune.train import distributed

CHECKPOINTS = ".checkpoints"   # inside a run folder while it trains; removed once the model is saved


def create_run_dir(size: str, slug: str, runs_dir: Path | None = None) -> Path:
    """A new, empty `.incomplete-<time>-<size>-<slug>` folder; never one another run holds.
    mkdir is atomic, so two runs started in the same second take different names."""
    runs_dir = runs_dir or paths.RUNS_DIR
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"cannot create the runs folder: {e.strerror}", runs_dir) from None
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{size}-{slug}"
    for n in range(1, 1000):
        name = stem if n == 1 else f"{stem}-{n}"
        work = runs_dir / (paths.INCOMPLETE_PREFIX + name)
        try:
            work.mkdir()
        except FileExistsError:
            continue
        except OSError as e:   # read-only or full outputs folder: one line, nothing written
            raise DataError(f"cannot create a run folder: {e.strerror}", runs_dir) from None
        if (runs_dir / name).exists() or (runs_dir / (name + paths.FAILED_SUFFIX)).exists():
            work.rmdir()   # that name finished or failed earlier in this second
            continue
        return work
    raise RuntimeError(f"could not find a free run folder name for {stem}")


def final_dir(folder: Path) -> Path:
    """Where a run folder ends when it completes."""
    name = folder.name.removeprefix(paths.INCOMPLETE_PREFIX).removesuffix(paths.FAILED_SUFFIX)
    return folder.parent / name


def earlier_attempts(folder: Path) -> list[dict]:
    """The stops a reopened run folder recorded (its last reason included), to keep in its config."""
    if not (Path(folder) / runs.CONFIG).is_file():
        return []
    doc = runs.read_config(folder)
    last = [{"reason": doc["reason"], "failed_at": doc.get("failed_at")}] if doc.get("reason") else []
    return [*doc.get("attempts", []), *last]


def reopen(folder: Path) -> Path:
    """An interrupted or failed run folder, renamed back to `.incomplete-<name>` to continue."""
    work = folder.parent / (paths.INCOMPLETE_PREFIX + final_dir(folder).name)
    if folder != work:
        os.replace(folder, work)
    return work


def mark_failed(folder: Path, reason: str) -> Path:
    """Record why a run stopped in its config.json (earlier attempts' reasons are kept in
    `attempts`) and rename it `<name>.failed`; returns the new path."""
    config = folder / runs.CONFIG
    doc = runs.read_config(folder) if config.is_file() else {}
    if doc.get("reason"):
        doc.setdefault("attempts", []).append({"reason": doc["reason"], "failed_at": doc.get("failed_at")})
    doc.update({"status": runs.FAILED, "reason": reason, "failed_at": time.strftime("%Y-%m-%d %H:%M:%S")})
    config.write_text(json.dumps(doc, indent=2))
    failed = final_dir(folder).with_name(final_dir(folder).name + paths.FAILED_SUFFIX)
    if folder != failed:
        os.replace(folder, failed)
    return failed


@contextlib.contextmanager
def failed_on_stop(run):
    """Steps of `run` driven in this process: a stop leaves `<name>.failed` with its reason, as a launched
    run's does (launch.py marks those itself), never an `.incomplete-` folder nobody will finish."""
    try:
        yield run
    except BaseException as e:
        if run.owns_folder and run.dir.exists() and distributed.is_main():
            reason = "interrupted (Ctrl-C)" if isinstance(e, KeyboardInterrupt) else f"{type(e).__name__}: {e}"
            run.dir = mark_failed(run.dir, reason)
            print(f"the run folder is kept as {run.dir} (config.json has the reason); resume it with: "
                  f"svtune train -p resume {run.dir}", file=sys.stderr)
        raise


def leftovers(runs_dir: Path | None = None) -> list[tuple[Path, str]]:
    """Run folders (and their executed notebooks) that will never complete: failed runs, and
    `.incomplete-` ones whose process is gone. Runs still going are left out."""
    import psutil
    runs_dir = runs_dir or paths.RUNS_DIR
    out = []
    for p in sorted(runs_dir.iterdir()) if runs_dir.is_dir() else []:
        if p.name.endswith(paths.FAILED_SUFFIX):
            reason = runs.read_config(p).get("reason", "") if (p / runs.CONFIG).is_file() else ""
            out.append((p, f"failed: {reason}" if reason else "failed"))
        elif p.name.startswith(paths.INCOMPLETE_PREFIX):
            pid = runs.read_config(p).get("pid") if (p / runs.CONFIG).is_file() else None
            if pid and psutil.pid_exists(pid):
                continue
            out.append((p, "abandoned (its process is gone)" if p.is_dir() else "notebook of an abandoned run"))
    return out


def clean(yes: bool = False) -> None:
    """List (with `yes`, delete) failed and abandoned runs: `svtune clean [--yes]`."""
    found = leftovers()
    for path, why in found:
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else path.stat().st_size
        print(f"{'deleting' if yes else 'would delete'} {path} ({size / 2**20:,.1f} MB): {why}")
        if yes:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    if not found:
        print(f"nothing to clean in {paths.RUNS_DIR}")
    elif not yes:
        print(f"{len(found)} to delete: run `make clean-runs CONFIRM=1` (svtune clean --yes)")
