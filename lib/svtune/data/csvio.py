"""Strict CSV reading that turns every problem into a DataError naming file, line and column.

pandas reports malformed input as a traceback deep in its parser; users of this
repo edit CSVs by hand, so they need to hear "data/x.csv, line 12, column score:
'high' is not a number" instead. Rows come back as dicts with their line number.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import stat
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

# Every character str.splitlines breaks at, escaped: a message stays one line whatever cell text it quotes.
_ONE_LINE = {ord(c): repr(c)[1:-1] for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"}


class DataError(ValueError):
    """Bad input data. `str()` is a one-line message naming file, line (or two lines, when two rows
    contradict each other: `earlier_line`) and column."""

    def __init__(self, message: str, file: Path | str | None = None,
                 line: int | None = None, column: str | None = None, earlier_line: int | None = None):
        self.file, self.line, self.column, self.reason = file, line, column, message
        self.earlier_line = earlier_line
        where = []
        if file is not None:
            where.append(str(file))
        if line is not None:
            where.append(f"lines {earlier_line} and {line}" if earlier_line is not None else f"line {line}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(((", ".join(where) + ": " if where else "") + message).translate(_ONE_LINE))


@dataclass
class Row:
    """One data row: its 1-based physical line number in the file and its cells."""
    line: int
    cells: dict[str, str]


def _os_reason(path: Path, e: OSError, expected: str = "file") -> str:
    """Why `path` cannot be read, in words a user can act on."""
    if e.errno == errno.ELOOP:
        return "symbolic link loop (the link leads back to itself); fix or remove the link"
    if isinstance(e, FileNotFoundError):
        return f"broken symbolic link to {os.readlink(path)}" if path.is_symlink() else f"{expected} not found"
    if isinstance(e, IsADirectoryError):
        return "is a folder, expected a file"
    if isinstance(e, NotADirectoryError):
        return "is a file, expected a folder" if expected == "folder" else "not found (a part of the path is a file)"
    if isinstance(e, PermissionError):
        return f"cannot read this {expected} (permission denied)"
    return f"cannot read this {expected} ({e.strerror or e})"


def read_text(path: Path | str) -> str:
    """The file as text (UTF-8, BOM dropped); a DataError naming the file when it cannot be read."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(_os_reason(path, e), path) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise DataError(f"not valid UTF-8 (byte 0x{raw[e.start]:02x} at offset {e.start}); "
                        "save the file as UTF-8", path, line) from None


def parse_json(text: str, path: Path):
    """json.loads, with every way it can fail (syntax, a 5,000-digit number, deep nesting) as a DataError."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"invalid JSON ({e.msg})", path, e.lineno) from None
    except (ValueError, RecursionError) as e:
        raise DataError(f"invalid JSON ({e})", path) from None


def _header(reader, path: Path, required: list[str], optional: list[str]) -> list[str]:
    """The header's column names, checked to hold every required column and no used column twice."""
    try:
        header = next(reader, None)
    except csv.Error as e:
        raise DataError(f"malformed header ({e})", path, 1) from None
    if not header or not any(h.strip() for h in header):
        raise DataError("empty file: expected a header with columns " + ",".join(required), path, 1)
    header = [h.strip() for h in header]
    missing = [c for c in required if c not in header]
    if missing:
        hint = ""
        if len(header) == 1 and any(d in header[0] for d in ";\t|"):
            hint = " (the header holds one column: is the file separated by ';' or tabs instead of commas?)"
        raise DataError(f"missing required column(s) {', '.join(missing)}; found {header}{hint}",
                        path, 1, missing[0])
    # With a column named twice, which cell is meant is a guess: refuse instead of taking the last.
    twice = next((c for c in [*required, *optional] if header.count(c) > 1), None)
    if twice:
        raise DataError("the header names this column twice; keep one", path, 1, twice)
    return header


def read_rows(path: Path, required: list[str], optional: list[str] = ()) -> list[Row]:
    """Read `path` as comma-separated UTF-8 with a header holding `required` columns.

    Missing optional columns read as empty strings. Empty lines are skipped.
    Raises DataError for a missing or unreadable file, a wrong delimiter, missing or repeated columns,
    unbalanced quotes, rows with too many fields, or no data rows at all.
    """
    path = Path(path)
    reader = csv.reader(io.StringIO(read_text(path), newline=""), strict=True)
    header = _header(reader, path, required, optional)
    rows: list[Row] = []
    line = reader.line_num
    while True:
        start = line + 1
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            msg = str(e)
            if "EOF" in msg or "unexpected end" in msg:
                msg = "unbalanced quote: a field opened with \" is never closed"
            raise DataError(f"malformed CSV ({msg})", path, start) from None
        line = reader.line_num
        if not fields or all(not f.strip() for f in fields):
            continue
        if len(fields) > len(header):
            extra = fields[len(header):]
            if any(f.strip() for f in extra):
                raise DataError(f"{len(fields)} fields but the header has {len(header)}; "
                                "quote fields that contain commas", path, start, f"#{len(header) + 1}")
        cells = {h: (fields[i] if i < len(fields) else "") for i, h in enumerate(header)}
        for c in optional:
            cells.setdefault(c, "")
        rows.append(Row(start, cells))
    if not rows:
        raise DataError("no data rows (the input must not be empty)", path)
    return rows


def parse_score(value: str, path: Path, line: int, column: str = "score") -> float:
    """A label in [0, 1], or a DataError naming where the bad value is."""
    try:
        score = float(value)
    except ValueError:
        raise DataError(f"{value!r} is not a number", path, line, column) from None
    if not 0.0 <= score <= 1.0 or score != score:
        raise DataError(f"{score} lies outside [0, 1]", path, line, column)
    return score


def split_list(cell: str) -> list[str]:
    """A `;`-separated cell as a list of stripped, non-empty items, order kept."""
    return [s.strip() for s in (cell or "").split(";") if s.strip()]


def glob_files(folder: Path | str, pattern: str = "*.csv") -> list[Path]:
    """Sorted files matching `pattern` in `folder` (sorted so runs are reproducible); none when the
    folder does not exist. A folder that cannot be read, or a match that is no readable file (a
    symlink loop, a broken link, a folder), is a DataError: skipping it would drop data unnoticed."""
    folder = Path(folder)
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        if folder.is_symlink():
            raise DataError(f"broken symbolic link to {os.readlink(folder)}", folder) from None
        return []
    except OSError as e:
        raise DataError(_os_reason(folder, e, "folder"), folder) from None
    files = sorted(folder / n for n in names if fnmatchcase(n, pattern))
    for p in files:
        try:
            mode = p.stat().st_mode
        except OSError as e:
            raise DataError(_os_reason(p, e), p) from None
        if not stat.S_ISREG(mode):
            raise DataError("is a folder, expected a file" if stat.S_ISDIR(mode) else "not a regular file", p)
    return files
