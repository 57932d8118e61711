"""The project's error classes.

Every error caffefill raises about its input derives from CaffefillError and
knows where it happened (file, line, layer) so the CLI can print one line and
exit with status 2.
"""

from __future__ import annotations


class CaffefillError(Exception):
    """Base of every error caffefill raises on bad input."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        column: int | None = None,
        layer: str | None = None,
        caffe_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line
        self.column = column
        self.layer = layer
        self.caffe_message = caffe_message

    def located(
        self,
        *,
        path: str | None = None,
        line: int | None = None,
        column: int | None = None,
        layer: str | None = None,
    ) -> CaffefillError:
        """Fill in location fields that are not known yet; returns self."""
        if self.path is None:
            self.path = path
        if self.line is None:
            self.line = line
            if self.column is None:
                self.column = column
        if self.layer is None:
            self.layer = layer
        return self

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            where += ": "
        layer = f"layer '{self.layer}': " if self.layer is not None else ""
        text = f"{where}{layer}{self.message}"
        if self.caffe_message and self.caffe_message not in self.message:
            text += f" (Caffe: {self.caffe_message})"
        return one_line(text)


def one_line(text: str) -> str:
    """``text`` with every character that is not printable escaped (``\\n``,
    ``\\x0c``, ``\\u2028`` ...), so a message from hostile input (a layer name, a
    token, a file name) stays on one line and cannot move the cursor."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


class FillerError(CaffefillError):
    """A fill that Caffe refuses (one of its CHECK failures in a filler)."""


class ParseError(CaffefillError):
    """A prototxt that cannot be read."""


class NetError(CaffefillError):
    """A net that Caffe would refuse to set up, or whose shapes cannot be known."""


class WriteError(CaffefillError):
    """An output that cannot be written."""
