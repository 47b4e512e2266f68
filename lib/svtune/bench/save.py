"""Where every benchmark's result goes: one JSON file, outputs/bench/<time>-<mode>.json (or the --out given)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from svtune import paths


def save(result: dict, mode: str, out: str | Path | None = None) -> Path:
    """Write `result` as JSON and say where; returns the path."""
    out = Path(out) if out else paths.OUTPUTS_DIR / "bench" / f"{time.strftime('%Y%m%d-%H%M%S')}-{mode}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=float))
    print(f"saved {out}")
    return out
