"""Every pointer in the docs leads somewhere: the files, modules, `svtune` verbs and `make` targets named in
README.md, docs/*.md, data/**/README.md, outputs/README.md, notebooks/*.ipynb and pyproject.toml exist.

What counts as a pointer (precise enough to leave prose alone):
- a repo path under lib/, scripts/, tests/, docs/, notebooks/ or data/, and a Markdown link's target
  (a `*` or a `<placeholder>` ends the part checked);
- a stage-relative module path such as `eval/playground.py` (under lib/svtune/), and in code a bare
  file name such as `hardware.py` (some file of lib/, tests/ or scripts/);
- a dotted `svtune.xxx.yyy` (a module or package, or an attribute of one) and `python -m svtune...` (it runs);
- inside code only (`spans`, fenced blocks, notebook code comments, pyproject.toml): `svtune VERB --option`
  (a verb of svtune.cli and an option of that verb) and `make TARGET` (a target of the Makefile).
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest

from svtune import cli, paths

ROOT = paths.REPO_ROOT
PKG = ROOT / "lib" / "svtune"
STAGES = ("data", "model", "train", "eval", "ship", "run", "bench")

# (document, name): why it is named though it does not exist here.
EXCEPTIONS = {
    ("docs/custom_dc.md", "data/mydc/config.json"): "example error messages about an owner's own folder",
    ("docs/custom_dc.md", "data/out/nl/sentences.csv"): "example error messages about an owner's own folder",
}

_START = r"(?<![\w/.~-])"   # a pointer starts a word: not ../shared/x, mydata/x, nl_server/x, svtune_x
PATH = re.compile(_START + r"(?:lib|scripts|tests|docs|notebooks|data)/[\w./-]*")
STAGE_FILE = re.compile(_START + r"(?:%s)/\w+\.py\b" % "|".join(STAGES))
FILE_NAME = re.compile(_START + r"\w+\.py\b")
MODULE = re.compile(_START + r"svtune(?:\.[A-Za-z_]\w*)+")
PYTHON_M = re.compile(r"python3?(?:\.\d+)?\s+-m\s+(svtune[\w.]*)")
LINK = re.compile(r"\]\(([^)\s#]+)[^)]*\)")
VERB = re.compile(_START + r"svtune[ \t]+([a-z][\w-]*)([^;|()`\n]*)")   # the verb, then its arguments
OPTION = re.compile(r"(?<![\w-])--[a-z][\w-]*")
MAKE = re.compile(_START + r"make[ \t]+([a-z][\w-]*)")
CODE_SPAN = re.compile(r"`([^`\n]+)`")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
COMMENT = re.compile(r"#(.*)$", re.M)


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "data").rglob("README.md")),
            ROOT / "outputs" / "README.md", *sorted((ROOT / "notebooks").glob("*.ipynb")), ROOT / "pyproject.toml"]


def markdown_code(text: str) -> str:
    """The fenced blocks and the inline code spans of Markdown."""
    return "\n".join([*FENCE.findall(text), *CODE_SPAN.findall(FENCE.sub("", text))])


def texts(doc: Path) -> tuple[str, str, str]:
    """(all of it, its code, its Markdown). Code: Markdown's fenced blocks and code spans, a notebook's code
    comments (the code itself imports and calls; it names no command), all of pyproject.toml."""
    if doc.suffix == ".ipynb":
        cells = json.loads(doc.read_text(encoding="utf-8"))["cells"]
        prose = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        return prose + "\n" + code, markdown_code(prose) + "\n" + "\n".join(COMMENT.findall(code)), prose
    text = doc.read_text(encoding="utf-8")
    return (text, text, "") if doc.suffix == ".toml" else (text, markdown_code(text), text)


def verb_options() -> dict[str, set[str]]:
    """Each verb of the `svtune` command: its option strings."""
    (sub,) = [a for a in cli._parser()._actions if a.choices and a.dest == "verb"]
    return {verb: {o for a in p._actions for o in a.option_strings} for verb, p in sub.choices.items()}


def make_targets() -> set[str]:
    targets = set()
    for line in (ROOT / "Makefile").read_text().splitlines():
        m = re.match(r"([\w-]+(?:[ \t]+[\w-]+)*)[ \t]*:(?!=)", line)
        if m:
            targets.update(m.group(1).split())
    return targets


def module_exists(dotted: str) -> bool:
    """`svtune.a.b` is a module or package under lib/, or an attribute of the longest one it starts with."""
    parts = dotted.split(".")
    for n in range(len(parts), 0, -1):
        base = ROOT / "lib" / Path(*parts[:n])
        if base.with_suffix(".py").is_file() or (base / "__init__.py").is_file():
            obj = importlib.import_module(".".join(parts[:n]))
            for attr in parts[n:]:
                if not hasattr(obj, attr):
                    return False
                obj = getattr(obj, attr)
            return True
    return False


def runnable(dotted: str) -> bool:
    """`python -m dotted` runs: a package with __main__.py, or a module with a __main__ block."""
    base = ROOT / "lib" / Path(*dotted.split("."))
    module = base.with_suffix(".py")
    return (base / "__main__.py").is_file() or (module.is_file() and "__name__ == \"__main__\"" in module.read_text())


def path_exists(name: str, folder: Path = ROOT) -> bool:
    return (folder / re.split(r"[*<]", name)[0].rstrip(".,:;")).exists()


def problems(docs: list[Path] | None = None, root: Path = ROOT) -> list[str]:
    """'document: kind name' for every pointer that leads nowhere (EXCEPTIONS aside)."""
    verbs, targets = verb_options(), make_targets()
    assert set(verbs) == set(cli.VERBS)
    files = {p.name for folder in ("lib", "tests", "scripts") for p in (ROOT / folder).rglob("*.py")}
    out = []
    for doc in documents() if docs is None else docs:
        text, code, markdown = texts(doc)
        name = doc.relative_to(root).as_posix()
        found = {("path", p) for p in PATH.findall(text)
                 if not (p.endswith(".py") and p.split("/")[0] in STAGES) and not path_exists(p)}
        found |= {("module path", p) for p in STAGE_FILE.findall(text) if not (PKG / p).is_file()}
        found |= {("link", p) for p in LINK.findall(markdown)
                  if not re.match(r"[a-z]+:", p) and not path_exists(p, doc.parent)}
        found |= {("file name", f) for f in FILE_NAME.findall(code) if f not in files}
        found |= {("module", m) for m in MODULE.findall(text) if not module_exists(m)}
        found |= {("python -m", m) for m in PYTHON_M.findall(text) if not runnable(m)}
        found |= {("svtune verb", v) for v, _ in VERB.findall(code) if v not in verbs}
        found |= {("svtune option", f"{v} {o}") for v, rest in VERB.findall(code) if v in verbs
                  for o in OPTION.findall(rest) if o not in verbs[v]}
        found |= {("make target", t) for t in MAKE.findall(code) if t not in targets}
        out += [f"{name}: {kind} {p}" for kind, p in sorted(found) if (name, p) not in EXCEPTIONS]
    return out


def test_every_pointer_in_the_docs_exists():
    assert problems() == []


def test_every_exception_is_still_named_with_a_reason():
    named = {d.relative_to(ROOT).as_posix(): texts(d)[0] for d in documents()}
    for (doc, name), reason in EXCEPTIONS.items():
        assert reason and name in named.get(doc, ""), f"{doc} no longer names {name}: drop its exception"


@pytest.mark.parametrize("line, kind", [
    ("the centring (`lib/svtune/centering.py`)", "path"),
    ("the miner (lib/svtune/mining.py)", "path"),
    ("see `eval/nothing.py`", "module path"),
    ("![shot](docs/img/nothing.png)", "link"),
    ("`svtune.model.nothing`", "module"),
    ("`python -m svtune.paths`", "python -m"),
    ("then `svtune frobnicate RUN`", "svtune verb"),
    ("`python -m svtune train --size tiny --frobnicate 3`", "svtune option"),
    ("```bash\nmake frobnicate ARGS=x\n```", "make target"),
])
def test_a_stale_pointer_is_found(tmp_path, line, kind):
    doc = tmp_path / "README.md"
    doc.write_text(f"# x\n\n{line}\n")
    assert any(p.startswith(f"README.md: {kind} ") for p in problems([doc], tmp_path)), problems([doc], tmp_path)


@pytest.mark.parametrize("line", [
    "svtune fine-tunes a sentence-transformer",           # prose, not code: no verb
    "`svtune train -p data_dir ../shared/datacommons`",   # a verb; a path outside the repo
    "`mydata/curated_input/*.csv` and `outputs/runs/<run>/model`",
    "`python -m svtune.bench` and `svtune.eval.metrics.band_order`",
    "`make test-fast`, `eval/playground.py`, `data/curated_input/*.csv`, [x](https://example.org)",
])
def test_what_exists_or_is_prose_is_left_alone(tmp_path, line):
    doc = tmp_path / "README.md"
    doc.write_text(f"# x\n\n{line}\n")
    assert problems([doc], tmp_path) == []
