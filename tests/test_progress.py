"""Progress lines: a dozen per long step at most, with counts, ETA and the final rate."""

from __future__ import annotations

import io

from svtune.progress import Progress


def test_a_long_step_prints_a_line_per_tenth_and_a_final_rate():
    out = io.StringIO()
    with Progress("encode", 1000, "texts", stream=out, every=3600) as bar:
        for _ in range(1000):
            bar.update(1)
    lines = out.getvalue().splitlines()
    assert 10 <= len(lines) <= 13                          # not one line per update
    assert "0/1,000 texts (0%)" in lines[0] and "ETA" in lines[1]
    assert "1,000/1,000 texts (100%)" in lines[-1] and lines[-1].rstrip().endswith("texts/s")


def test_an_interrupted_step_reports_what_was_done():
    out = io.StringIO()
    with Progress("train", 400, "steps", stream=out, every=3600) as bar:
        bar.set(37, "loss 0.1234")
    assert "37/400 steps (9%)" in out.getvalue().splitlines()[-1] and "loss 0.1234" in out.getvalue()
