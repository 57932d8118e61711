"""Line numbers, one way for the whole project: a line ends at ``\\n`` only.

Protobuf's text-format tokenizer (and so Caffe, and the prototxt reader) counts
lines at ``\\n`` alone; ``str.splitlines()`` also breaks at ``\\r``, form feed,
vertical tab, ``\\x1c``-``\\x1e``, ``\\x85`` and U+2028/U+2029, which would put
anything numbered with it (a suppression comment) on another line than the
reader's.  Everything that numbers lines or columns uses this module.
"""

from __future__ import annotations

import bisect
import re

LINE_END = "\n"

def split_lines(text: str) -> list[str]:
    """The lines of ``text``, the first being line 1 (a ``\\r`` before a line end
    stays on its line)."""
    return text.split(LINE_END)


def line_start(text: str | bytes, offset: int) -> tuple[int, int]:
    """(1-based line number, offset where that line starts) of ``offset`` in
    ``text`` (str or bytes)."""
    if isinstance(text, str):
        return text.count(LINE_END, 0, offset) + 1, text.rfind(LINE_END, 0, offset) + 1
    end = LINE_END.encode()
    return text.count(end, 0, offset) + 1, text.rfind(end, 0, offset) + 1


class LineIndex:
    """Turns offsets into (line, column) pairs, 1-based, for one text."""

    def __init__(self, text: str) -> None:
        self.starts = [0] + [m.end() for m in re.finditer(LINE_END, text)]

    def position(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.starts, offset)
        return line, offset - self.starts[line - 1] + 1

    def offset(self, line: int, column: int) -> int | None:
        """The offset of 1-based (line, column), None when there is no such line."""
        if not 1 <= line <= len(self.starts) or column < 1:
            return None
        return self.starts[line - 1] + column - 1
