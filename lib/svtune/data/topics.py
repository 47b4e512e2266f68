"""Read and check a topic hierarchy: topics, sub-topics and peer groups of StatVars.

    <data_dir>/topics/*.json   Data Commons' topic_cache.json: {"nodes": [{"dcid": [..], "name": [..],
                               "typeOf": ["Topic" | "StatVarPeerGroup"], "relevantVariableList" |
                               "memberList": [member dcids]}]}
    <data_dir>/topics/*.csv    topic_dcid,topic_name,member_dcid[,type][,alternatives]: one row per
                               (topic, member); a member is a StatVar or another topic's dcid; `type` is
                               Topic (default; StatVarPeerGroup for dc/svpg/ dcids) or StatVarPeerGroup;
                               `alternatives` (;-separated search phrasings) on any row of the topic

A Topic is something people search for (Data Commons' index holds topic names); a
StatVarPeerGroup is a family of parallel StatVars ("Population: Male", "...: Female"): related,
but different answers. Problems stop with a DataError naming the file and line; a member dcid
that is neither a StatVar of the catalog nor a topic is counted, not an error (a hierarchy
usually covers more than one catalog size). A cycle is an error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from svtune.data.csvio import DataError, glob_files, parse_json, read_rows, read_text, split_list

TOPIC, PEER_GROUP = "Topic", "StatVarPeerGroup"
CSV_COLUMNS = ["topic_dcid", "topic_name", "member_dcid"]
# Data Commons' root topic is every topic's ancestor: no subject of its own, and its children are
# not related by sharing it.
ROOTS = {"dc/topic/Root"}


@dataclass
class Topic:
    dcid: str
    name: str
    kind: str = TOPIC
    members: list[str] = field(default_factory=list)
    alternatives: list[str] = field(default_factory=list)
    file: str = ""
    line: int | None = None


def _kind(value: str, dcid: str, path: Path, line: int | None) -> str:
    kind = value.strip() or (PEER_GROUP if dcid.startswith("dc/svpg/") else TOPIC)
    if kind not in (TOPIC, PEER_GROUP):
        raise DataError(f"type {kind!r} is neither {TOPIC} nor {PEER_GROUP}", path, line, "type")
    return kind


def _line_of(text: str, needle: str) -> int | None:
    at = text.find(needle)
    return text.count("\n", 0, at) + 1 if at >= 0 else None


def _strings(node: dict, key: str, what: str, path: Path, line: int | None) -> list[str]:
    """A node's field as a list of strings (Data Commons writes every value as a list; a lone string is
    taken as a list of one); any other type is a DataError naming the field."""
    value = node.get(key)
    if value is None:
        return []
    value = [value] if isinstance(value, str) else value
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DataError(f'"{key}" of {what} must be a list of strings, not {value!r:.60}', path, line)
    return value


def _first(node: dict, key: str, what: str, path: Path, line: int | None) -> str:
    return next(iter(_strings(node, key, what, path, line)), "").strip()


def read_json(path: Path, notes: list[str]) -> dict[str, Topic]:
    """Data Commons' topic_cache.json. A topic listing itself (the July 2023 file has one) is noted
    and the self-reference dropped."""
    text = read_text(path)
    doc = parse_json(text, path)
    nodes = doc.get("nodes") if isinstance(doc, dict) else None
    if not isinstance(nodes, list):
        raise DataError('expected {"nodes": [...]} (Data Commons topic_cache.json)', path, 1)
    out: dict[str, Topic] = {}
    for i, node in enumerate(nodes):
        if not isinstance(node, dict):
            raise DataError(f"node #{i + 1} is not an object", path)
        dcid = _first(node, "dcid", f"node #{i + 1}", path, None)
        if not dcid:
            raise DataError(f"node #{i + 1} has no dcid", path)
        line = _line_of(text, json.dumps(dcid, ensure_ascii=False))
        name = _first(node, "name", f"topic {dcid}", path, line)
        if not name:
            raise DataError(f"topic {dcid} has no name", path, line)
        kind = _kind(_first(node, "typeOf", f"topic {dcid}", path, line), dcid, path, line)
        members = (_strings(node, "memberList", f"topic {dcid}", path, line)
                   or _strings(node, "relevantVariableList", f"topic {dcid}", path, line))
        if dcid in out:
            raise DataError(f"topic {dcid} is defined twice", path, line)
        if dcid in members:
            notes.append(f"{path}, line {line}: topic {dcid} lists itself as a member; ignored")
        members = [m.strip() for m in members if m.strip() and m.strip() != dcid]
        out[dcid] = Topic(dcid, name, kind, members, [], str(path), line)
    return out


def read_csv(path: Path) -> dict[str, Topic]:
    """topic_dcid,topic_name,member_dcid[,type][,alternatives]."""
    out: dict[str, Topic] = {}
    for row in read_rows(path, CSV_COLUMNS, optional=["type", "alternatives"]):
        c = row.cells
        dcid, name, member = c["topic_dcid"].strip(), c["topic_name"].strip(), c["member_dcid"].strip()
        for col, value in (("topic_dcid", dcid), ("topic_name", name), ("member_dcid", member)):
            if not value:
                raise DataError("empty cell", path, row.line, col)
        kind = _kind(c["type"], dcid, path, row.line)
        topic = out.setdefault(dcid, Topic(dcid, name, kind, file=str(path), line=row.line))
        if topic.name != name:
            raise DataError(f"topic {dcid} is named {name!r} here but {topic.name!r} on line {topic.line}",
                            path, row.line, "topic_name")
        if topic.kind != kind:
            raise DataError(f"topic {dcid} has type {kind} here but {topic.kind} on line {topic.line}",
                            path, row.line, "type")
        if member == dcid:
            raise DataError(f"topic {dcid} lists itself as a member", path, row.line, "member_dcid")
        if member not in topic.members:
            topic.members.append(member)
        topic.alternatives += [a for a in split_list(c["alternatives"]) if a not in topic.alternatives]
    return out


def read_topics(folder: Path, notes: list[str] | None = None) -> dict[str, Topic]:
    """Every topic file in `folder` (JSON and CSV), merged; a dcid defined in two files is an error."""
    out: dict[str, Topic] = {}
    notes = [] if notes is None else notes
    for path in glob_files(folder, "*.json") + glob_files(folder, "*.csv"):
        for dcid, topic in (read_json(path, notes) if path.suffix == ".json" else read_csv(path)).items():
            if dcid in out:
                raise DataError(f"topic {dcid} is also defined in {out[dcid].file}", path, topic.line)
            out[dcid] = topic
    _check_acyclic(out)
    return out


def _check_acyclic(topics: dict[str, Topic]) -> None:
    """Depth-first with an explicit stack: a chain thousands of topics deep must not hit the recursion limit."""
    state: dict[str, int] = {}   # 1 = on the current path, 2 = done
    for root in topics:
        if root in state:
            continue
        path, todo = [root], [iter(topics[root].members)]
        state[root] = 1
        while todo:
            m = next(todo[-1], None)
            if m is None:
                state[path.pop()] = 2
                todo.pop()
            elif state.get(m) == 1:
                t = topics[path[-1]]
                cycle = path[path.index(m):] + [m]
                raise DataError(f"the topic hierarchy has a cycle: {' -> '.join(cycle)}", t.file, t.line)
            elif m in topics and m not in state:
                state[m] = 1
                path.append(m)
                todo.append(iter(topics[m].members))


@dataclass
class Hierarchy:
    """The topics that reach the catalog, with their members restricted to it."""
    topics: dict[str, Topic]
    unknown_members: int = 0        # member dcids that are neither a catalog StatVar nor a topic
    dropped_topics: int = 0         # topics with no StatVar of this catalog below them

    def statvars_under(self, dcid: str) -> set[str]:
        out, stack, seen = set(), [dcid], set()
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            if node in self.topics:
                stack.extend(self.topics[node].members)
            elif node != dcid:
                out.add(node)
        return out


def restrict(topics: dict[str, Topic], statvars: set[str]) -> Hierarchy:
    """Keep the topics (roots excepted) with at least one of `statvars` below them, and as members
    only those StatVars and kept topics."""
    full = Hierarchy(topics)
    keep = {d for d in topics if d not in ROOTS and full.statvars_under(d) & statvars}
    unknown = sum(1 for t in topics.values() for m in t.members if m not in topics and m not in statvars)
    kept = {d: Topic(t.dcid, t.name, t.kind, [m for m in t.members if m in keep or m in statvars],
                     t.alternatives, t.file, t.line) for d, t in topics.items() if d in keep}
    return Hierarchy(kept, unknown, len(topics) - len(kept))
