"""sha256, the one way: of a local file (hashed once per process per size and mtime), or of any
readable stream (a remote copy being verified)."""

from __future__ import annotations

import hashlib
from pathlib import Path

_digests: dict[tuple[str, int, int], str] = {}   # (path, size, mtime) -> sha256


def sha256_stream(f, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    while block := f.read(chunk):
        h.update(block)
    return h.hexdigest()


def sha256_file(path: str | Path) -> str:
    st = Path(path).stat()
    key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
    if key not in _digests:
        with open(path, "rb") as f:
            _digests[key] = sha256_stream(f)
    return _digests[key]


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
