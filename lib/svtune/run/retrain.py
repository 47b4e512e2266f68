"""Retrain a finished run in the background with its own parameters, which now pick up the curation file.

    from svtune.run.retrain import Retrain
    job = Retrain(run)            # starts `python -m svtune train <the run's reproduce command>` as a subprocess
    job.lines                     # its console lines so far (progress bars included, one line per update)
    new = job.wait()              # the new run folder; RetrainFailed (its last lines) when the run failed
    job.diff_path                 # after wait(): the rank diff of the previous run vs the new one
    Retrain.widget(run)           # notebook: a Retrain button, the live console, then that rank diff
                                  # (= retrain_widget(run); `ui.parts` holds its controls for tests)

Same parameters: the command config.json records (run/provenance.reproduce_command), so the new run reads
the same data folder, where the catalog reader now joins the playground's curation file (data/curation.py)
with sentence_pairs.csv. When it finishes, the new run's rank diff against the previous run (not only
against the base model), labelled queries first, is written by eval/run_diff.py, as `svtune compare A B`
does. The subprocess keeps running if the notebook is closed; its run folder is a normal run.
The widget shows how long the run took and that rank diff in an iframe; a failure shows one line and the
console stays. Headless (nbval) it renders without starting anything.
"""

from __future__ import annotations

import html
import os
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path

from svtune import paths, runs
from svtune.run.config import make_config
from svtune.run.provenance import reproduce_command

SHOWN_LINES = 30


class RetrainFailed(RuntimeError):
    """The retrain's `svtune train` failed; str() ends with its last console lines."""


def command(run: str | Path) -> list[str]:
    """argv of `python -m svtune train` with the finished run's own parameters."""
    params = runs.params(runs.finished_run(run))
    cfg = make_config(**{k: v for k, v in params.items() if k not in ("resume", "run_dir")})
    argv = shlex.split(reproduce_command(cfg))
    return [sys.executable, *argv[1:]]


class Retrain:
    """One background retrain: the subprocess, a thread reading its lines, the result."""

    def __init__(self, run: str | Path = "", argv: list[str] | None = None, on_line=None, on_done=None):
        self.previous = runs.finished_run(run)
        self.argv = argv or command(self.previous)
        self.lines: list[str] = []
        self.new_run: Path | None = None
        self.diff_path: Path | None = None
        self.error: str | None = None
        self.on_line, self.on_done = on_line, on_done
        self.started, self.seconds = time.time(), None
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     bufsize=1, env=env, cwd=paths.REPO_ROOT)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        for line in self.proc.stdout:          # text mode: a progress bar's \r ends a line too
            line = line.rstrip()
            if not line:
                continue
            self.lines.append(line)
            if line.startswith(runs.COMPLETE_LINE):
                self.new_run = runs.completed_folder(line)
            if self.on_line:
                self.on_line(line)
        code = self.proc.wait()
        self.seconds = time.time() - self.started
        if code or self.new_run is None:
            self.error = f"the retrain failed (exit status {code}): " + " | ".join(self.lines[-3:])
        else:
            try:
                from svtune.eval.run_diff import write
                self.diff_path = write(self.previous, self.new_run)[0]
            except (OSError, ValueError, KeyError) as e:
                self.error = f"the retrain finished ({self.new_run}) but its rank diff failed: {e}"
        if self.on_done:
            self.on_done(self)

    @property
    def running(self) -> bool:
        return self.thread.is_alive()

    def wait(self, timeout: float | None = None) -> Path:
        """Block until the retrain ends: the new run folder, or RetrainFailed."""
        self.thread.join(timeout)
        if self.running:
            raise TimeoutError(f"the retrain is still running after {timeout} s")
        if self.error:
            raise RetrainFailed(self.error)
        return self.new_run

    def stop(self) -> None:
        """Ask the run to stop (SIGINT: it stops after the current step, kept as a .failed run)."""
        import signal
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)

    @staticmethod
    def widget(run: str | Path = "", argv: list[str] | None = None):
        return retrain_widget(run, argv)


def retrain_widget(run: str | Path = "", argv: list[str] | None = None):
    """The notebook's Retrain button: Retrain / Stop, the last console lines, then the new run's rank diff in
    an iframe (`ui.parts` holds the controls for tests)."""
    import ipywidgets as w

    from svtune.eval.playground import embed, message
    try:
        previous, problem = runs.finished_run(run), None
    except FileNotFoundError as e:
        previous, problem = None, str(e)
    start = w.Button(description="Retrain with the new labels", button_style="primary", icon="refresh",
                     disabled=previous is None, layout=w.Layout(width="auto"))
    stop = w.Button(description="Stop", icon="stop", disabled=True)
    status = w.HTML(message(problem) if problem else
                    f"<p>Retrains {html.escape(previous.name)} with its own parameters plus the curation file.</p>")
    console = w.HTML("")
    result = w.HTML("")
    state = {"job": None}

    def show_line(_line: str) -> None:
        job = state["job"]
        tail = "\n".join(job.lines[-SHOWN_LINES:]) if job else ""
        console.value = f'<pre class="svtune-console" style="max-height:22em;overflow:auto">{html.escape(tail)}</pre>'

    def done(job: Retrain) -> None:
        start.disabled, stop.disabled = False, True
        show_line("")
        if job.error:
            status.value = message(job.error)
            return
        status.value = (f"<p>New run <code>{html.escape(str(job.new_run))}</code> in {job.seconds:.0f} s; "
                        f"rank diff: <code>{html.escape(str(job.diff_path))}</code></p>")
        result.value = embed(job.diff_path.read_text(encoding="utf-8"), rows=20)

    def begin(_=None) -> None:
        start.disabled, stop.disabled, result.value = True, False, ""
        status.value = "<p>Retraining … (console below)</p>"
        try:
            state["job"] = Retrain(previous, argv, on_line=show_line, on_done=done)
        except Exception as e:    # one line in the UI; nothing started
            start.disabled, stop.disabled = False, True
            status.value = message(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")

    start.on_click(begin)
    stop.on_click(lambda _: state["job"] and state["job"].stop())
    ui = w.VBox([w.HBox([start, stop]), status, console, result])
    ui.parts = {"start": start, "stop": stop, "status": status, "console": console, "result": result,
                "state": state}
    return ui
