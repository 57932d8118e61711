"""The progress line long commands draw on a terminal (``init``, ``diff``)."""

from __future__ import annotations

import os
import sys
import time


class Bar:
    """The progress line of ``init`` and ``diff`` on a terminal's stderr.

    Our own rather than a library's: the runtime dependencies are protobuf and
    numpy only, and the bar must follow the values piece by piece as the
    writers take them (a large blob such as fc6 moves it while drawn), which a
    per-item progress library would have to be fed the same way.  The line is
    redrawn only when what it shows changes (a whole percent, a blob done), is
    cut to the terminal's width (a wrapped line cannot be redrawn in place),
    erased to its end (no characters left of a longer line), and ended with a
    newline, so what follows starts on a line of its own.
    """

    WIDTH = 24

    def __init__(self, total_values: int, total_blobs: int) -> None:
        self.total_values, self.total_blobs = total_values, total_blobs
        self.values = self.blobs = 0
        self.start = time.monotonic()
        self.shown: tuple[int, int] | None = None
        try:
            self.columns = os.get_terminal_size(sys.stderr.fileno()).columns or 80
        except (OSError, ValueError):
            self.columns = 80

    def advance(self, values: int = 0, blobs: int = 0) -> None:
        self.values += values
        self.blobs += blobs
        frac = self.values / self.total_values if self.total_values else 1.0
        if self.blobs == self.total_blobs:
            frac = 1.0
        percent = int(100 * min(frac, 1.0))
        if (percent, self.blobs) == self.shown:
            return
        self.shown = (percent, self.blobs)
        rate = self.values / max(time.monotonic() - self.start, 1e-9) / 1e6
        line = (f"[{'#' * (percent * self.WIDTH // 100):<{self.WIDTH}}] {percent:3d}% "
                f"{self.blobs}/{self.total_blobs} blobs "
                f"{self.values / 1e6:.1f}/{self.total_values / 1e6:.1f} M values {rate:.0f} M/s")
        sys.stderr.write("\r" + line[:self.columns - 1] + "\x1b[K")
        sys.stderr.flush()

    def end(self) -> None:
        if self.values == self.total_values:  # every value was written (or compared)
            self.advance(blobs=self.total_blobs - self.blobs)
        if self.shown is not None:
            sys.stderr.write("\n")
            sys.stderr.flush()
