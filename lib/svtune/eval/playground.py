"""Query playground: type a query, see a run's base and tuned top-10 StatVars side by side.

    from svtune.eval.playground import Playground
    pg = Playground()                        # the newest finished run; or Playground("outputs/runs/<run>")
    display(HTML(pg.compare("median household income")))   # one query; works headless (papermill, nbval)
    pg.widget()                              # JupyterLab: run dropdown, query box, Search button, grade buttons

A Playground loads the run's base model (config.json `params.base_model`), its tuned model
(`model/`) and its catalog index (`params.data_dir`, `params.size`) once; the index embeddings
are cached on disk per model, so the second load of a run is fast. The table is the rank-diff
report's (templates/playground.html.j2 extends rank_diff.html.j2: names, scores, red = left the
top list, green = new in it) for one query, with a compact mark of how far each StatVar moved
(▲ up, ▼ down, in the tuned column). `compare` wraps the page in an iframe, so its styles stay out of the notebook.
Under the table, each result gets the four grade buttons of eval/label_widget.py (the curation loop:
label, then retrain with run/retrain.py). notebooks/playground.ipynb is the front end; it holds no logic.
"""

from __future__ import annotations

import html
from contextlib import contextmanager
from pathlib import Path

from svtune import paths, runs
from svtune.data.catalog import load_catalog
from svtune.data.curation import Curator
from svtune.data.formats import index_from_catalog, names_from_catalog
from svtune.data.heldout import seed_for
from svtune.eval.label_widget import LabelPanel
from svtune.eval.report import rank_diff_context, render
from svtune.model.load import load_model

TOP_K = 10
NO_QUERY = "Type a query first."
# The playground template's extra CSS: one query needs no summary, table of contents or section heading.
STYLE = ("body{margin:.4em .6em}h1{font-size:15px;font-weight:normal;color:#555}"
         "h1+p,.summary,.toc,h2,h2+p.same{display:none}h3{margin-top:.4em}"
         ".legend::after{content:' · ▲n / ▼n: moved up / down n places'}"
         ".mv{display:inline-block;margin-left:.4em;padding:0 4px;border-radius:3px;font-size:11px;"
         "font-weight:600;white-space:nowrap}.mv.up{background:#54a24b;color:#fff}"
         ".mv.down{background:#e45756;color:#fff}.mv.new{background:#54a24b;color:#fff}"
         ".mv.gone{background:#e45756;color:#fff}")


def run_folder(run: str | Path = "") -> Path:
    """The run folder to load ("" = the newest finished run); a one-line error when there is none."""
    return runs.finished_run(run)


@contextmanager
def _quiet_loading():
    """No "Loading weights" progress bars (a notebook shows each as a widget)."""
    from transformers.utils import logging as hf_logging
    was = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            hf_logging.enable_progress_bar()


def marks(before: list[tuple[str, float]], after: list[tuple[str, float]]) -> dict:
    """How far each StatVar moved, for the template's cells: (query 0, column, row) -> mark.
    Tuned column: ▲n / ▼n, or new; base column: left (not in the tuned top list)."""
    b_rank = {d: i for i, (d, _) in enumerate(before)}
    a_ids = {d for d, _ in after}
    out = {(0, "base", r): {"cls": "gone", "text": "left", "title": "not in the tuned top list"}
           for r, (d, _) in enumerate(before) if d not in a_ids}
    for r, (d, _) in enumerate(after):
        was = b_rank.get(d)
        if was is None:
            out[0, "tuned", r] = {"cls": "new", "text": "new", "title": "not in the base top list"}
        elif was != r:
            up = was > r
            out[0, "tuned", r] = {"cls": "up" if up else "down", "text": f"▲{was - r}" if up else f"▼{r - was}",
                                  "title": f"base #{was + 1} → tuned #{r + 1}"}
    return out


def page_html(query: str, before: list[tuple[str, float]], after: list[tuple[str, float]], names: dict[str, str],
              title: str = "Rank diff", labels: tuple[str, str] = ("base", "tuned")) -> str:
    """The rank-diff page of one query (`report.rank_diff_context`), with moves marked and the playground's CSS."""
    context = rank_diff_context([query], [before], [after], names, title, labels)
    return render("playground.html.j2", {**context, "marks": marks(before, after), "playground_style": STYLE})


def embed(page: str, rows: int = TOP_K) -> str:
    """A self-contained HTML page as an iframe that fits its content (notebook outputs, widgets)."""
    fit = "try{this.style.height=Math.ceil(this.contentDocument.body.getBoundingClientRect().bottom+16)+'px'}catch(e){}"
    return (f'<div class="svtune-playground"><iframe srcdoc="{html.escape(page, quote=True)}" '
            f'style="width:100%;height:{180 + 48 * rows}px;border:1px solid #ddd" onload="{fit}"></iframe></div>')


def message(text: str) -> str:
    """A one-line message for the UI (no run, empty query, a load error)."""
    return f'<p class="svtune-message" style="color:#b00020;font-weight:600">{html.escape(text)}</p>'


class Playground:
    """A run's base model, tuned model and catalog index, loaded once; `compare` one query."""

    def __init__(self, run: str | Path = ""):
        from svtune.eval.evaluate import Index
        self.run = run_folder(run)
        self.config = runs.read_config(self.run)
        params = self.config["params"]
        self.base_model = params["base_model"]
        catalog = load_catalog(paths.data_dir(params.get("data_dir")), params["size"], warn=False,
                               heldout_seed=seed_for(params), eval_dir=params.get("eval_dir", ""))   # the run's own
        rows = index_from_catalog(catalog)
        saved = runs.read_eval(self.run, "after").get("names", {}) if (self.run / runs.eval_file("after")).is_file() \
            else {}
        self.names = {**saved, **names_from_catalog(catalog)}
        with _quiet_loading():
            self.base = Index(load_model(self.base_model), rows)
            self.tuned = Index(load_model(str(self.run / "model")), rows)

    def search(self, query: str, k: int = TOP_K) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
        """(base top-k, tuned top-k) as [(dcid, score)], best first."""
        query = (query or "").strip()
        if not query:
            raise ValueError(NO_QUERY)
        return self.base.search([query], k)[0], self.tuned.search([query], k)[0]

    def page(self, query: str, k: int = TOP_K) -> str:
        """A standalone HTML page: the rank-diff table of one query, with moves marked."""
        before, after = self.search(query, k)
        return page_html(query.strip(), before, after, self.names, f"run {self.run.name}",
                         labels=(f"base: {self.base_model}", "tuned"))

    def compare(self, query: str, k: int = TOP_K) -> str:
        """The page of `page`, embedded for a notebook: `display(HTML(pg.compare(query)))`."""
        return embed(self.page(query, k), k)

    def result_texts(self, query: str, k: int = TOP_K) -> list[str]:
        """The names of the query's results to label: the tuned top-k, then those only the base found."""
        before, after = self.search(query, k)
        return list(dict.fromkeys(self.names.get(d) or d for d, _ in [*after, *before]))

    @property
    def curator(self):
        """The run's data folder's data.curation.Curator (labels go to its curation file)."""
        if getattr(self, "_curator", None) is None:
            params = self.config["params"]
            self._curator = Curator(paths.data_dir(params.get("data_dir")), params.get("eval_dir") or "")
        return self._curator

    def widget(self, query: str = "", k: int = TOP_K):
        """The interactive UI, starting on this run (see the module-level `widget`)."""
        return widget(self.run, query, k, playground=self)


def widget(run: str | Path = "", query: str = "", k: int = TOP_K, playground: Playground | None = None):
    """Run dropdown (finished runs, newest first), query box, Search button (Enter searches too)
    and the result area. Switching runs loads the other run; errors show as one line."""
    import ipywidgets as w

    found = runs.finished_runs()
    state = {"pg": playground, "shown": None}
    try:
        current = playground.run if playground else run_folder(run)
    except FileNotFoundError as e:
        current, first_error = None, str(e)
    else:
        first_error = None
    options = [(p.name, str(p)) for p in found]
    if current is not None and str(current) not in dict(options).values():
        options.insert(0, (current.name, str(current)))     # a run outside outputs/runs
    pick = w.Dropdown(options=options, value=str(current) if current else None, description="Run",
                      layout=w.Layout(width="32em"))
    box = w.Text(value=query, placeholder="a query, e.g. people without health insurance",
                 description="Query", continuous_update=False, layout=w.Layout(width="32em"))
    box.add_class("svtune-query")
    button = w.Button(description="Search", button_style="primary", icon="search")
    out = w.HTML(message(first_error or "No run to search.") if (first_error or not options) else "")
    labels = LabelPanel()

    def show() -> None:
        key = (pick.value, box.value.strip())
        if key == state["shown"]:     # already on screen (Enter, then a click on Search)
            return
        state["shown"] = None
        labels.clear()
        if not pick.value:
            out.value = message(f"No finished run under {paths.RUNS_DIR}; train one first: make train")
            return
        if not key[1]:
            out.value = message(NO_QUERY)
            return
        try:
            if state["pg"] is None or str(state["pg"].run) != pick.value:
                state["pg"] = None
                out.value = f"<p>Loading {html.escape(Path(pick.value).name)} …</p>"
                state["pg"] = Playground(pick.value)
            out.value = state["pg"].compare(key[1], k)
            labels.show(key[1], state["pg"].result_texts(key[1], k), state["pg"].curator)
            state["shown"] = key
        except Exception as e:   # shown in the UI as one line; the notebook goes on working
            out.value = message(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")

    pick.observe(lambda _: show(), names="value")
    box.observe(lambda _: show(), names="value")     # Enter (or leaving the box) with a new query
    button.on_click(lambda _: show())
    ui = w.VBox([w.HBox([pick]), w.HBox([box, button]), out, labels.box])
    ui.parts = {"run": pick, "query": box, "search": button, "result": out, "labels": labels}
    if query.strip() and pick.value and not first_error:
        show()
    return ui
