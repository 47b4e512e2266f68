"""Read a custom Data Commons as its owner has it, into the same Catalog as the repo's layout.

    <folder>/config.json                 a custom DC import folder: {"variables": {"<dcid>": {"name": ...,
                                         "description": ..., "searchDescriptions": [...], "group": "A/B"}}}
    <folder>/nl/sentences.csv            or an importer output folder: dcid,sentence (`;`-joined texts)
    <folder>/nl/custom_dc_topic_cache.json   optional, either layout: {"nodes": [...]} (topics.read_json)
    <folder>/finetuning/sentence_pairs.csv   optional: hand-curated pairs, joined as usual
    <folder>/eval/queries.csv, pairs.csv     optional: without them, heldout.py holds out the owner's own words

    kind = custom_dc_kind(folder)             # "config" | "importer" | None (the repo's layout)
    catalog.load_custom_dc(folder, kind)      # what load_catalog returns for such a folder (catalog.py)

`name` -> Name, `description` -> Description, `searchDescriptions` -> curated alternatives; each level of
a `group` path is a topic (dcid `c/topic/<path>`) whose members are its variables and sub-groups; the
topic cache's memberList / relevantVariableList where given. An importer's sentences.csv cannot tell a
name from a search description: one text is the name, several are search descriptions (nl.py writes the
name only when there are none). Bad input is a DataError naming file and line (malformed JSON also the
column); a variable with neither a name nor search descriptions is a named warning and left out.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from svtune import paths
from svtune.data.csvio import DataError, read_rows, read_text, split_list
from svtune.data.records import StatVar
from svtune.data.topics import TOPIC, Topic, _check_acyclic, read_json

CONFIG = "config.json"
SENTENCES = Path("nl") / "sentences.csv"
TOPIC_CACHE = Path("nl") / "custom_dc_topic_cache.json"
PAIRS = Path("finetuning") / "sentence_pairs.csv"
GROUP_PREFIX = "c/topic/"
FIELDS = {"name": str, "description": str, "group": str}


def custom_dc_kind(folder: Path | str) -> str | None:
    """"config" for an import folder (a config.json, and no curated_input/ unless it names `variables`),
    "importer" for an output folder (nl/sentences.csv), None for the repo's own layout. A config.json
    that cannot be parsed or lacks `variables` still counts: reading it says what is wrong."""
    folder = Path(folder)
    config = folder / CONFIG
    if config.is_file() and (not (folder / "curated_input").exists() or '"variables"' in read_text(config)):
        return "config"
    if (folder / SENTENCES).exists():
        return "importer"
    return None


def has_eval(folder: Path | str) -> bool:
    """The folder brings its own held-out sets (eval/queries.csv or eval/pairs.csv)."""
    return any((Path(folder) / f).exists() for f in (paths.EVAL_QUERIES, paths.EVAL_PAIRS))


class _Object(dict):
    """A JSON object that remembers keys given twice: (key, first value, second value)."""
    def __init__(self, pairs):
        super().__init__()
        self.twice = []
        for k, v in pairs:
            if k in self:
                self.twice.append((k, self[k], v))
            self[k] = v


def _parse(text: str, path: Path) -> dict:
    try:
        doc = json.loads(text, object_pairs_hook=_Object)
    except json.JSONDecodeError as e:
        raise DataError(f"invalid JSON ({e.msg}) at column {e.colno}", path, e.lineno) from None
    except (ValueError, RecursionError) as e:
        raise DataError(f"invalid JSON ({e})", path) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("variables"), dict):
        found = "no \"variables\"" if not isinstance(doc, dict) or "variables" not in doc else \
            f"\"variables\" is {type(doc['variables']).__name__}"
        raise DataError(f'expected {{"variables": {{"<variable>": {{"name": ..., "searchDescriptions": [...]}}}}}} '
                        f"(a custom Data Commons config.json); found {found}", path, 1)
    return doc


def _key_lines(text: str, key: str, start: int) -> list[int]:
    """Line numbers of every `"key":` at or after offset `start`."""
    pattern = re.compile(re.escape(json.dumps(key, ensure_ascii=False)) + r"\s*:")
    return [text.count("\n", 0, m.start()) + 1 for m in pattern.finditer(text, max(start, 0))]


def _variable(dcid: str, entry, path: Path, line: int | None) -> dict:
    """One variable's fields, each checked for its type."""
    if not isinstance(entry, dict):
        raise DataError(f"variable {dcid} must be an object, not {entry!r:.60}", path, line)
    out = {}
    for key, kind in FIELDS.items():
        value = entry.get(key)
        if value is not None and not isinstance(value, kind):
            raise DataError(f'"{key}" of variable {dcid} must be a string, not {value!r:.60}', path, line)
        out[key] = (value or "").strip()
    descs = entry.get("searchDescriptions")
    if descs is not None and (not isinstance(descs, list) or not all(isinstance(d, str) for d in descs)):
        raise DataError(f'"searchDescriptions" of variable {dcid} must be a list of strings, not {descs!r:.60}',
                        path, line)
    out["searchDescriptions"] = list(dict.fromkeys(d.strip() for d in descs or [] if d.strip()))
    return out


def read_config(path: Path, notes: list[str]) -> tuple[dict, dict[str, list[str]]]:
    """config.json's variables as StatVars (dcid -> StatVar) and each one's group path."""
    text = read_text(path)
    doc = _parse(text, path)
    variables = doc["variables"]
    start = text.find('"variables"')
    for dcid, first, second in variables.twice:
        lines = _key_lines(text, dcid, start)
        a, b = (_variable(dcid, v, path, None) for v in (first, second))
        where = {"line": lines[1], "earlier_line": lines[0]} if len(lines) >= 2 else {}
        if a["name"] != b["name"]:
            raise DataError(f"variable {dcid} is defined twice with different names ({a['name']!r} and "
                            f"{b['name']!r}); keep one", path, **where)
        notes.append(f"{path}, line {where.get('line')}: variable {dcid} is defined twice; the last is kept")
    statvars, groups = {}, {}
    for dcid, entry in variables.items():
        line = next(iter(_key_lines(text, dcid, start)), None)
        if not dcid.strip():
            raise DataError("a variable with an empty name", path, line)
        v = _variable(dcid, entry, path, line)
        if not v["name"] and not v["searchDescriptions"]:
            notes.append(f"{path}, line {line}: variable {dcid} has neither a name nor searchDescriptions; left out")
            continue
        statvars[dcid] = StatVar(dcid, v["name"], [v["description"]] if v["description"] else [], [],
                                 v["searchDescriptions"], file=str(path), line=line)
        groups[dcid] = [g.strip() for g in v["group"].split("/") if g.strip()]
    return statvars, groups


def read_sentences(path: Path, notes: list[str]) -> dict:
    """An importer's nl/sentences.csv (dcid,sentence) as StatVars."""
    statvars = {}
    for row in read_rows(path, ["dcid", "sentence"]):
        dcid, texts = row.cells["dcid"].strip(), list(dict.fromkeys(split_list(row.cells["sentence"])))
        if not dcid:
            raise DataError("empty dcid", path, row.line, "dcid")
        if not texts:
            notes.append(f"{path}, line {row.line}: variable {dcid} has no sentence; left out")
            continue
        if dcid in statvars:
            first = statvars[dcid]
            raise DataError(f"variable {dcid} is listed twice; first at line {first.line}: keep one row",
                            path, row.line, "dcid")
        name, alts = (texts[0], []) if len(texts) == 1 else ("", texts)
        statvars[dcid] = StatVar(dcid, name, [], [], alts, file=str(path), line=row.line)
    return statvars


def group_topics(groups: dict[str, list[str]], path: Path) -> dict[str, Topic]:
    """Every level of every `group` path as a Topic: members are its variables and sub-groups."""
    topics: dict[str, Topic] = {}
    for dcid, levels in groups.items():
        parent = None
        for i in range(len(levels)):
            slug = "/".join(re.sub(r"[^A-Za-z0-9]+", "_", g).strip("_") or "_" for g in levels[:i + 1])
            tid = GROUP_PREFIX + slug
            topic = topics.setdefault(tid, Topic(tid, levels[i], TOPIC, file=str(path)))
            if parent is not None and tid not in parent.members:
                parent.members.append(tid)
            parent = topic
        if parent is not None:
            parent.members.append(dcid)
    return topics


def custom_dc_topics(folder: Path, groups: dict, path: Path, files: list[Path], notes: list[str]) -> dict[str, Topic]:
    """The groups' topics and the topic cache's (TOPIC_CACHE, when present, added to `files`), checked acyclic."""
    topics = group_topics(groups, path)
    cache = folder / TOPIC_CACHE
    if cache.exists():
        files.append(cache)
        for dcid, topic in read_json(cache, notes).items():
            if dcid in topics:
                raise DataError(f"topic {dcid} is also a group of {path}", cache, topic.line)
            topics[dcid] = topic
    _check_acyclic(topics)
    return topics
