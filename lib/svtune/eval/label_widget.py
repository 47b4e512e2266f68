"""The playground's grade buttons: label each result of a query in one click (data/curation.py writes it).

    from svtune.eval.label_widget import LabelPanel
    panel = LabelPanel(curator)                     # a data.curation.Curator
    panel.show("poor families", ["People Below Poverty Level", ...])   # one row of four grades per result
    panel.box                                       # the ipywidgets VBox to display
    panel.grade(0, "same thing")                    # what a click does (tests, scripts)

Each result row has the seed's four grades (curation.GRADES: same thing 1.0, related 0.5, weak link 0.2,
wrong 0.01). A click writes `query,result text,score`; a refusal (a held-out text, a bad file) shows as one
line; a contradiction (the pair labelled at another score, in either file) shows the old label with
**Replace** and **Keep** buttons and writes nothing until Replace. Below: the undo list (this session's
writes, newest first) and **Undo last**. Used by eval/playground.py's widget; ipywidgets only, so it
renders headless (nbval) and in JupyterLab alike. CSS classes (svtune-grade, svtune-confirm, ...) are for
the browser test.
"""

from __future__ import annotations

import html

from svtune.data.curation import GRADES, Refused

UNDO_SHOWN = 10


class LabelPanel:
    """Grade buttons for one query's results, the confirm prompt and the undo list."""

    def __init__(self, curator=None):
        import ipywidgets as w
        self.w, self.curator, self.query, self.texts, self.pending = w, curator, "", [], None
        self.rows = w.VBox([])
        self.status = w.HTML("")
        self.status.add_class("svtune-label-status")
        self.confirm = w.Button(description="Replace", button_style="warning", layout=w.Layout(display="none"))
        self.keep = w.Button(description="Keep", layout=w.Layout(display="none"))
        self.confirm.add_class("svtune-confirm")
        self.keep.add_class("svtune-keep")
        self.undo_button = w.Button(description="Undo last", icon="undo", disabled=True)
        self.undo_button.add_class("svtune-undo")
        self.undo_list = w.HTML("")
        self.confirm.on_click(lambda _: self._answer(True))
        self.keep.on_click(lambda _: self._answer(False))
        self.undo_button.on_click(lambda _: self.undo())
        self.box = w.VBox([w.HTML("<b>Label the results</b> (written to the catalog's curation file)"), self.rows,
                           w.HBox([self.status, self.confirm, self.keep]), w.HBox([self.undo_button]),
                           self.undo_list])
        self.box.add_class("svtune-labels")

    def _row(self, i: int, text: str):
        w = self.w
        label = w.HTML(f"<span title='{html.escape(text)}'>{i + 1}. {html.escape(text)}</span>",
                       layout=w.Layout(width="22em"))
        buttons = []
        for grade, score in GRADES.items():
            b = w.Button(description=grade, tooltip=f"{self.query} ~ {text}: {score:g}",
                         layout=w.Layout(width="auto"))
            b.add_class("svtune-grade")
            b.on_click(lambda _, i=i, g=grade: self.grade(i, g))
            buttons.append(b)
        row = w.HBox([label, *buttons])
        row.add_class("svtune-label-row")
        return row

    def show(self, query: str, texts: list[str], curator=None) -> None:
        """One row of grade buttons per result text (duplicates once), for `query`."""
        self.curator = curator or self.curator
        self.query, self.pending = query.strip(), None
        self.texts = list(dict.fromkeys(t for t in texts if t and t.strip()))
        self.rows.children = [self._row(i, t) for i, t in enumerate(self.texts)]
        self._say("")

    def clear(self) -> None:
        self.query, self.texts, self.pending, self.rows.children = "", [], None, []
        self._say("")

    def _say(self, text: str, error: bool = False, ask: bool = False) -> None:
        color = "#b00020" if error else "#8a5a00" if ask else "#1b5e20"
        self.status.value = f'<span style="color:{color};font-weight:600">{html.escape(text)}</span>' if text else ""
        shown = "inline-flex" if ask else "none"
        self.confirm.layout.display = self.keep.layout.display = shown

    def grade(self, row: int, grade: str, confirm: bool = False):
        """Label result `row` of the query with `grade` (a GRADES key); the curation Result, or None if refused."""
        if self.curator is None:
            self._say("No data folder to write to.", error=True)
            return None
        pair = (self.query, self.texts[row], GRADES[grade])
        try:
            r = self.curator.add(*pair, confirm=confirm)
        except Refused as e:
            self._say(f"Refused: {e}", error=True)
            return None
        self.pending = pair if r.status == "needs_confirm" else None
        self._say(r.message, ask=r.status == "needs_confirm")
        self._history()
        return r

    def _answer(self, replace: bool) -> None:
        pending, self.pending = self.pending, None
        if pending is None:
            return self._say("")
        if not replace:
            return self._say(f"kept the old label of {pending[0]} ~ {pending[1]}")
        try:
            r = self.curator.add(*pending, confirm=True)
        except Refused as e:
            return self._say(f"Refused: {e}", error=True)
        self._say(r.message)
        self._history()

    def undo(self) -> None:
        try:
            last = self.curator.undo() if self.curator else None
        except Refused as e:
            return self._say(f"Refused: {e}", error=True)
        self._say(f"undone: {last}" if last else "nothing to undo")
        self._history()

    def _history(self) -> None:
        changes = list(reversed(self.curator.history))[:UNDO_SHOWN] if self.curator else []
        self.undo_button.disabled = not changes
        items = "".join(f"<li>{html.escape(str(c))}</li>" for c in changes)
        self.undo_list.value = (f'<div class="svtune-undo-list">This session\'s labels, newest first '
                                f"({self.curator.path}):<ol>{items}</ol></div>") if changes else ""
