"""Progress you can see from a terminal and in a saved notebook: a few plain lines per long step.

Progress bars drawn as notebook widgets never reach the console of a headless run, and text
bars fill a saved notebook with hundreds of `Batches: NN%` lines. So long steps (encoding,
training) print plain lines to stdout at most every EVERY_SECONDS and at every 10%, with the
rate and an ETA: papermill streams them to the console, and the notebook keeps about a dozen.

    with Progress("encode catalog", total=len(texts), unit="texts") as bar:
        for chunk in ...: bar.update(len(chunk))     # the last line shows what was done, and the rate
"""

from __future__ import annotations

import sys
import time

EVERY_SECONDS = 15.0


def _clock(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}" if seconds >= 3600 \
        else f"{seconds // 60}:{seconds % 60:02d}"


class Progress:
    def __init__(self, what: str, total: int, unit: str = "", stream=None, every: float = EVERY_SECONDS):
        self.what, self.total, self.unit = what, max(int(total), 0), unit
        self.stream, self.every = stream or sys.stdout, every
        self.done, self.extra = 0, ""
        self.start = self._last = time.perf_counter()
        self._last_tenth = -1

    def __enter__(self) -> "Progress":
        self._print(force=True)
        return self

    def __exit__(self, exc_type, *_):
        if exc_type is None:
            self._print(force=True, final=True)

    def update(self, n: int = 1, extra: str = "") -> None:
        self.done = min(self.total, self.done + n) if self.total else self.done + n
        self.extra = extra or self.extra
        self._print()

    def set(self, done: int, extra: str = "") -> None:
        self.update(done - self.done, extra)

    def _print(self, force: bool = False, final: bool = False) -> None:
        now = time.perf_counter()
        tenth = int(10 * self.done / self.total) if self.total else 0
        if not force and tenth == self._last_tenth and now - self._last < self.every:
            return
        self._last, self._last_tenth = now, tenth
        elapsed = now - self.start
        parts = [f"{self.what}:"]
        if self.total:
            parts.append(f"{self.done:,}/{self.total:,} {self.unit}".rstrip()
                         + f" ({100 * self.done / self.total:.0f}%)")
        if self.extra:
            parts.append(self.extra)
        parts.append(f"{_clock(elapsed)} elapsed")
        if final:
            rate = self.done / elapsed if elapsed > 0 else 0
            parts.append(f"{rate:,.{1 if rate < 10 else 0}f} {self.unit}/s".strip() if self.unit else "done")
        elif self.done and self.total:
            parts.append(f"ETA {_clock(elapsed * (self.total - self.done) / self.done)}")
        print("  " + "  ".join(parts), file=self.stream, flush=True)
