"""The notebook's Retrain button: start run/retrain.py's background run, show its console, then its rank diff.

    from svtune.run.retrain_widget import retrain_widget
    retrain_widget(run)       # ipywidgets: Retrain / Stop buttons, the last console lines, the result

When the run ends the widget shows how long it took and the rank diff of the previous run vs the new one
(eval/run_diff.py: labelled queries first) in an iframe; a failure shows one line and the console stays.
Headless (nbval) it renders without starting anything. `ui.parts` holds the controls for tests.
"""

from __future__ import annotations

import html
from pathlib import Path

from svtune import paths
from svtune.eval.playground import embed, message
from svtune.run.retrain import SHOWN_LINES, Retrain


def retrain_widget(run: str | Path = "", argv: list[str] | None = None):
    import ipywidgets as w
    try:
        previous, problem = paths.finished_run(run), None
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
