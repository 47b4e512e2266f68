"""Strict CSV reading that turns every problem into a DataError naming file, line and column.

pandas reports malformed input as a traceback deep in its parser; users of this
repo edit CSVs by hand, so they need to hear "data/x.csv, line 12, column score:
'high' is not a number" instead. Rows come back as dicts with their line number.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path


class DataError(ValueError):
    """Bad input data. `str()` is a one-line message naming file, line and column."""

    def __init__(self, message: str, file: Path | str | None = None,
                 line: int | None = None, column: str | None = None):
        self.file, self.line, self.column, self.reason = file, line, column, message
        where = []
        if file is not None:
            where.append(str(file))
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__((", ".join(where) + ": " if where else "") + message)


@dataclass
class Row:
    """One data row: its 1-based physical line number in the file and its cells."""
    line: int
    cells: dict[str, str]


def _decode(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise DataError(f"not valid UTF-8 (byte 0x{raw[e.start]:02x} at offset {e.start}); "
                        "save the file as UTF-8", path, line) from None


def read_rows(path: Path, required: list[str], optional: list[str] = ()) -> list[Row]:
    """Read `path` as comma-separated UTF-8 with a header holding `required` columns.

    Missing optional columns read as empty strings. Empty lines are skipped.
    Raises DataError for a missing file, a wrong delimiter, missing columns,
    unbalanced quotes, rows with too many fields, or no data rows at all.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", path)
    text = _decode(path)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
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


def glob_files(folder: Path, pattern: str = "*.csv") -> list[Path]:
    """Sorted files matching `pattern` in `folder` (sorted so runs are reproducible)."""
    return sorted(p for p in Path(folder).glob(pattern) if p.is_file())
