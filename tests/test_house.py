"""The house rules as tests: one command with every verb, the recorded command reproduces the run's
config, resume takes the run's own parameters, stages import only downward, no import cycles and no import
inside a function but to keep svtune light, no module too long, no test module imports another."""

from __future__ import annotations

import ast
import json
import shlex
import sys
from pathlib import Path

import pytest

from svtune import cli, paths
from svtune.run.checks import resume_params
from svtune.run.config import RunConfig, make_config
from svtune.run.provenance import reproduce_command

STAGES = ["data", "model", "train", "eval", "ship", "run", "bench"]
PKG = Path(cli.__file__).parent


def recorded_config(command: str):
    """The RunConfig that a recorded `python -m svtune train ...` command asks for."""
    argv = shlex.split(command)
    assert argv[:4] == ["python", "-m", "svtune", "train"]
    args = cli._parser().parse_args(argv[3:])
    return make_config(**cli.run_params(args))


def every_parameter(tiny_model_dir, tiny_data, tmp_path) -> dict:
    """A non-default value for every run parameter (resume aside: it names a folder, not a config)."""
    (tmp_path / "report.txt").write_text("poverty\nwomen\n")
    return dict(size="tiny", data_dir=str(tiny_data), recipe="twostage", base_model=str(tiny_model_dir),
                epochs=2.0, batch_size=4, learning_rate=1e-3, seed=7, max_steps=2, precision="fp32",
                eval_dir=str(tiny_data / "eval"), teacher=str(tiny_model_dir),
                report_queries=str(tmp_path / "report.txt"), overrides={"center": 0.3, "mnrl_scale": 30.0})


def test_every_verb_is_listed(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for verb in cli.VERBS:
        assert verb in out, verb
    assert cli._argv(["--size", "tiny"]) == ["train", "--size", "tiny"]   # python -m svtune --size ... trains
    assert cli._argv(["--recipes"]) == ["recipes"]


def test_reproduce_command_names_every_field(tiny_model_dir, tiny_data, tmp_path):
    params = every_parameter(tiny_model_dir, tiny_data, tmp_path)
    cfg = make_config(**params)
    again = recorded_config(reproduce_command(cfg))
    assert again.to_dict() == cfg.to_dict()
    assert again.hp == cfg.hp


@pytest.mark.slow
def test_a_runs_recorded_command_gives_its_config_back(tiny_model_dir, tiny_data, tmp_path, monkeypatch):
    from svtune.run import Run
    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path / "runs")
    folder = Run.start(**every_parameter(tiny_model_dir, tiny_data, tmp_path)).run_all()
    doc = json.loads((folder / "config.json").read_text())
    assert doc["status"] == "complete" and "-p teacher" in doc["command"]
    again = recorded_config(doc["command"]).to_dict()
    assert again == {k: v for k, v in doc["params"].items()}


def test_resume_takes_the_runs_own_parameters(tmp_path, tiny_model_dir, tiny_data):
    folder = tmp_path / "r.failed"
    folder.mkdir()
    stored = make_config(size="tiny", data_dir=str(tiny_data), recipe="seed", base_model=str(tiny_model_dir),
                         seed=7).to_dict()
    (folder / "config.json").write_text(json.dumps({"status": "failed", "reason": "interrupted (Ctrl-C)",
                                                    "params": stored}))
    # A notebook's parameters cell holds every default: they are not "given".
    notebook = {**RunConfig().to_dict(), "resume": str(folder)}
    assert resume_params(notebook)["seed"] == 7 and resume_params(notebook)["recipe"] == "seed"
    # The launcher knows what the user typed: only those are compared.
    assert resume_params({"resume": str(folder), "seed": 7}, given={"resume", "seed"})["seed"] == 7
    with pytest.raises(Exception, match=r"drop seed \(the run has 7\)"):
        resume_params({"resume": str(folder), "seed": 8}, given={"resume", "seed"})


def test_mark_failed_keeps_earlier_reasons(tmp_path):
    from svtune.run.folder import mark_failed
    folder = tmp_path / ".incomplete-r"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"status": "failed", "reason": "interrupted (Ctrl-C)"}))
    failed = mark_failed(folder, "interrupted (SIGTERM)")
    doc = json.loads((failed / "config.json").read_text())
    assert doc["reason"] == "interrupted (SIGTERM)" and doc["attempts"][0]["reason"] == "interrupted (Ctrl-C)"


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("svtune."):
            out.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            out |= {a.name.split(".")[1] for a in node.names if a.name.startswith("svtune.")}
    return out


def test_stages_import_only_downward():
    for stage in STAGES:
        for module in (PKG / stage).glob("*.py"):
            upward = {s for s in _imports(module) if s in STAGES and STAGES.index(s) > STAGES.index(stage)}
            assert not upward, f"{module.relative_to(PKG)} imports {upward}, a later stage"
    for module in ("paths.py", "progress.py", "hashing.py", "runs.py"):
        assert not _imports(PKG / module) & set(STAGES), module


def test_modules_and_functions_stay_short():
    for module in PKG.rglob("*.py"):
        lines = module.read_text().splitlines()
        assert len(lines) <= 320, f"{module.relative_to(PKG)}: {len(lines)} lines"
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                assert length <= 70, f"{module.relative_to(PKG)}:{node.name} is {length} lines"


def test_no_test_module_imports_another():
    """What tests share lives in helpers.py (and fixtures in conftest.py); scripts/ import no test module."""
    tests = Path(__file__).parent
    for path in [*tests.rglob("*.py"), *(paths.REPO_ROOT / "scripts").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            wrong = [n for n in names if n.split(".")[-1].startswith("test_") or n.split(".")[0] == "conftest"]
            assert not wrong, f"{path.relative_to(paths.REPO_ROOT)} imports {wrong}"


# --- the import graph: no cycles, and imports inside functions only where they keep svtune light -----------

# Third-party packages cheap enough to import at the top of any module; every other one (torch, pandas,
# scipy, transformers, matplotlib, jinja2, huggingface_hub, ...) is heavy or optional.
LIGHT = {"numpy", "yaml"} | set(sys.stdlib_module_names)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package_modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _import_graph() -> tuple[dict, dict, list]:
    """Per module: the svtune modules it imports (anywhere), the third-party roots it imports at the top,
    and every import of an svtune module inside a function as (module, line, imported module)."""
    modules = _package_modules()

    def module_of(name: str) -> str:     # svtune.run.Run -> svtune.run; svtune.data.catalog -> itself
        while name not in modules:
            name = name.rpartition(".")[0]
        return name

    edges: dict[str, dict[str, bool]] = {m: {} for m in modules}    # module -> {imported: at the top}
    third: dict[str, set] = {m: set() for m in modules}
    inner = []

    def visit(node, module: str, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                if isinstance(child, ast.ImportFrom) and (child.module or "").split(".")[0] == "svtune":
                    names = [f"{child.module}.{a.name}" for a in child.names]
                else:
                    names = [a.name for a in child.names] if isinstance(child, ast.Import) else [child.module]
                for name in names:
                    if name.split(".")[0] != "svtune":
                        if not nested:
                            third[module].add(name.split(".")[0])
                        continue
                    target = module_of(name)
                    if target != module:
                        edges[module][target] = edges[module].get(target, False) or not nested
                        if nested:
                            inner.append((module, child.lineno, target))
            visit(child, module, nested)

    for name, path in modules.items():
        visit(ast.parse(path.read_text()), name, False)
    return edges, third, inner


def _cycles(edges: dict[str, dict]) -> list[list[str]]:
    """One cycle (a -> ... -> a) through each group of modules that import one another (Tarjan's strongly
    connected components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = stack[stack.index(v):]
            del stack[stack.index(v):]
            if len(group) > 1:
                groups.append(set(group))

    for v in edges:
        if v not in index:
            connect(v)
    out = []
    for group in groups:      # the shortest way round from the group's first module back to it
        start = min(group)
        way = {start: [start]}
        todo = [start]
        while todo:
            v = todo.pop(0)
            if start in edges[v]:
                out.append(way[v] + [start])
                break
            for w in sorted(set(edges[v]) & group - set(way)):
                way[w] = way[v] + [w]
                todo.append(w)
    return out


def test_no_import_cycles():
    """No module imports itself through others, whether the imports are at the top or inside functions."""
    edges, _, _ = _import_graph()
    cycles = _cycles(edges)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_imports_inside_functions_only_keep_svtune_light():
    """An svtune module is imported inside a function only when importing it at the top would load a heavy or
    optional third-party package (anything but the standard library, numpy and yaml: torch, pandas, scipy,
    transformers, matplotlib, jinja2, huggingface_hub ...) that its importer does not load already: what keeps
    `import svtune...` and `svtune --help` fast. Everything else is imported at the top. The other reason such an
    import gets written, to dodge an import cycle, cannot arise: test_no_import_cycles counts the imports inside
    functions too. Third-party packages themselves may be imported inside functions (heavy, optional)."""
    edges, third, inner = _import_graph()

    def loads(module: str, seen: set) -> set:
        """The third-party packages importing `module` loads (its packages' __init__ run first)."""
        if module in seen:
            return set()
        seen.add(module)
        out = set(third[module])
        parents = [".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)]
        for m in [*parents, *(t for t, top in edges[module].items() if top)]:
            out |= loads(m, seen)
        return out

    heavy = {m: loads(m, set()) - LIGHT for m in edges}
    needless = sorted({f"{m}:{line} imports {target} inside a function" for m, line, target in inner
                       if not heavy[target] - heavy[m]})
    assert not needless, "nothing heavy comes with these imports: move them to the top\n" + "\n".join(needless)
