"""rank_diff.html: expected StatVars marked, counts from plots.query_changes, order, escaping, layout."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import numpy as np
import pytest

from svtune import cli
from svtune.eval import plots, report

NAMES = {"A": "Alpha", "B": "Beta", "C": "Gamma", "D": "Delta", "E": "Epsilon"}


class Tables(HTMLParser):
    """Every table.diff as rows of (td class, text), plus the h3 (query) and h2 (section) texts in order."""

    def __init__(self, text: str):
        super().__init__()
        self.tables, self.h2, self.h3, self._tag, self._cell = [], [], [], None, None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("class") == "diff":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag == "td" and self.tables:
            self._cell = [attrs.get("class") or "", ""]
        elif tag in ("h2", "h3"):
            self._tag = tag
            getattr(self, tag).append("")

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.tables[-1][-1].append(tuple(self._cell))
            self._cell = None
        elif tag in ("h2", "h3"):
            self._tag = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[1] += data
        if self._tag in ("h2", "h3"):
            getattr(self, self._tag)[-1] += data


def top(*dcids):
    return [(d, 0.9 - 0.1 * i) for i, d in enumerate(dcids)]


# query -> (expected, base top, tuned top); statuses by reciprocal rank of the first expected dcid
CASES = {
    "worse a bit": (["A"], top("A", "B", "C"), top("B", "A", "C")),      # 1 -> 1/2: regressed -0.5
    "much worse": (["A"], top("A", "B", "C"), top("B", "C", "D")),       # 1 -> 0:   regressed -1
    "better a bit": (["C"], top("A", "B", "C"), top("A", "C", "B")),     # 1/3 -> 1/2: improved
    "much better": (["D"], top("A", "B", "C"), top("D", "A", "B")),      # 0 -> 1:   improved +1
    "same rank": (["B"], top("A", "B", "C"), top("E", "B", "A")),        # 1/2 -> 1/2: unchanged
}


def build(cases=CASES, names=NAMES, **kw):
    qs = list(cases)
    return qs, report.rank_diff_html(qs, [cases[q][1] for q in qs], [cases[q][2] for q in qs], names,
                                     expected=[cases[q][0] for q in qs], **kw)


def table_of(page: Tables, query: str):
    return page.tables[page.h3.index(query)]


def test_expected_marked_in_both_columns():
    _, text = build()
    page = Tables(text)
    rows = table_of(page, "worse a bit")[1:]          # header row has no td
    # columns: #, base name, base score, tuned name, tuned score
    base_a, tuned_a = rows[0][1], rows[1][3]
    assert "exp" in base_a[0].split() and "✓" in base_a[1] and "Alpha" in base_a[1]
    assert "exp" in tuned_a[0].split() and "✓" in tuned_a[1] and "Alpha" in tuned_a[1]
    others = [r[c] for r in rows for c in (1, 3)]
    assert sum("exp" in cls.split() for cls, _ in others) == 2
    assert sum("✓" in txt for _, txt in others) == 2
    # the expected StatVar that left the top list is marked, and flagged as gone, on the base side only
    rows = table_of(page, "much worse")[1:]
    assert "exp" in rows[0][1][0].split() and "gone" in rows[0][1][0].split()
    assert not any("exp" in r[3][0].split() for r in rows)
    # a legend explains the mark
    assert "an expected StatVar of the query" in text


def test_counts_equal_plots_query_changes():
    qs, text = build()
    dicts = lambda i: [{"query": q, "expected": CASES[q][0], "top": CASES[q][i]} for q in qs]  # noqa: E731
    df = plots.query_changes(dicts(1), dicts(2))
    # the compare notebook's own count
    nb = {"improved": int((df.change > 0).sum()), "regressed": int((df.change < 0).sum()),
          "unchanged": int((df.change == 0).sum())}
    assert nb == plots.change_counts(df) == {"improved": 2, "regressed": 2, "unchanged": 1}
    toc = re.search(r"<p class='toc'>(.*?)</p>", text).group(1)
    assert re.sub("<[^>]+>", "", toc) == "Regressed (2) · Improved (2) · Unchanged (1)"
    for status, label in (("regressed", "Regressed"), ("improved", "Improved"), ("unchanged", "Unchanged")):
        assert f"<a href='#{status}'>{label}</a></td><td>{nb[status]}</td>" in text   # summary table
        assert f"id='{status}'" in text                                                # link target
    assert "changed top" not in text.split("<h2")[0]   # not the old "N with a changed top-10" count


def test_order_regressed_improved_unchanged():
    _, text = build()
    page = Tables(text)
    assert [h.split(" (")[0] for h in page.h2] == ["Regressed", "Improved", "Unchanged"]
    assert page.h3 == ["much worse", "worse a bit", "much better", "better a bit", "same rank"]
    assert "#1 → not in top 3" in text and "#3 → #2" in text and "not in top 3 → #1" in text


def test_escapes_names_queries_and_dcids():
    names = {**NAMES, "A": "<script>alert(1)</script> & co", "B": 'say "hi"'}
    cases = {"<b>bold</b> query": (["A"], top("A", "B", "x<y"), top("B", "A", "x<y"))}
    _, text = build(cases, names, title="T <i>", labels=("<base>", "tuned"))
    assert "<script>" not in text and "<b>bold" not in text and "x<y" not in text and "<i>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in text
    assert "&lt;b&gt;bold&lt;/b&gt; query" in text and "x&lt;y" in text and "&lt;base&gt;" in text
    assert "say &#34;hi&#34;" in text     # quotes too: the template is autoescaped


def test_display_title_name_else_dcid():
    assert report.display_title({"A": "Alpha"}, "A") == "Alpha"
    assert report.display_title({"A": "Alpha"}, "B") == "B"
    assert report.display_title({"A": ""}, "A") == "A"      # an empty name shows the dcid, not a blank cell
    _, text = build(names={})
    assert '<td class="exp">A<span class="dcid">A</span>' not in text   # the ✓ badge comes first
    assert '</span>A<span class="dcid">A</span>' in text


def test_template_ships_with_the_package():
    from importlib.resources import files
    for name in ("rank_diff.html.j2", "playground.html.j2"):
        assert files("svtune.eval").joinpath("templates", name).is_file()
    assert report._ENV.autoescape is True


def test_plain_query_list_falls_back_to_changed_positions():
    qs = ["moved", "still"]
    text = report.rank_diff_html(qs, [top("A", "B"), top("A", "B")], [top("B", "A"), top("A", "B")], NAMES)
    assert "No expected StatVars were given" in text and "positions that changed" in text
    assert "✓" not in text and "Improved" not in text
    assert Tables(text).h3 == ["moved", "still"]
    assert re.sub("<[^>]+>", "", re.search(r"<p class='toc'>(.*?)</p>", text).group(1)) == \
        "Changed (1) · Unchanged (1)"


def test_queries_without_expected_come_last():
    qs = ["has", "none"]
    text = report.rank_diff_html(qs, [top("A", "B"), top("A", "B")], [top("B", "A"), top("B", "A")], NAMES,
                                 expected=[["A"], []])
    assert Tables(text).h3 == ["has", "none"]
    assert "No expected StatVar (1)" in text and "Regressed (1)" in text


def test_tables_fit_the_page():
    css = report.STYLE
    assert "table-layout:fixed" in css and "overflow-wrap:anywhere" in css
    width = {c: float(re.search(rf"col\.{c}{{width:([\d.]+)%}}", css).group(1)) for c in ("pos", "name", "score")}
    assert width["pos"] + 2 * width["name"] + 2 * width["score"] == pytest.approx(100)
    assert re.search(r"\.dcid{display:block", css)


def test_length_mismatch_raises():
    with pytest.raises(ValueError):
        report.rank_diff_html(["q"], [top("A")], [top("A")], NAMES, expected=[["A"], ["B"]])


def test_from_evals_uses_expected():
    ev = lambda t: {"details": {"queries": [{"query": "q", "expected": ["B"], "top": t}]},  # noqa: E731
                    "names": NAMES}
    text = report.rank_diff_from_evals(ev(top("A", "B")), ev(top("B", "A")))
    assert "Improved (1)" in text and "#2 → #1" in text
    with pytest.raises(ValueError):
        report.rank_diff_from_evals(ev(top("A")), {"details": {"queries": []}})


class FakeModel:
    """Bag-of-characters encoder, shifted by `seed` so two models rank differently."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed).normal(size=(256, 16))

    def encode(self, texts, **_):
        out = np.stack([self.rng[[ord(c) % 256 for c in t]].sum(0) for t in texts])
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def test_main_wires_expected_from_the_query_file(tmp_path, monkeypatch):
    import svtune.model.load
    monkeypatch.setattr(svtune.model.load, "load_model", lambda name, *a, **k: FakeModel(0 if name == "a" else 1))
    (tmp_path / "index.csv").write_text("sentence,dcid\npoverty rate,Poverty\nprison count,Prison\n"
                                        "median income,Income\nhouse value,Home\n", encoding="utf-8")
    (tmp_path / "q.csv").write_text("query,expected\npoor people,Poverty\ninmates,Prison;NotInIndex\n",
                                    encoding="utf-8")
    out = cli.main(["report", "--before", "a", "--after", "b", "--catalog", str(tmp_path / "index.csv"),
                       "--queries", str(tmp_path / "q.csv"), "--out", str(tmp_path / "d.html")])
    text = out.read_text(encoding="utf-8")
    assert "with expected StatVars" in text
    assert text.count('<span class="badge"') == 4   # 2 queries x both columns (the index holds 4 StatVars)
    assert "NotInIndex" not in text       # expected dcids outside the index are dropped
    counts = [int(x) for x in re.findall(r"<a href='#\w+'>\w+ \((\d+)\)</a>", text)]
    assert sum(counts) == 2
