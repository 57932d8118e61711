"""The project's error classes.

Every error caffefill raises about its input derives from CaffefillError and
knows where it happened (file, line, layer) so the CLI can print one line and
exit with status 2.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TypeVar


class ErrorKind(enum.Enum):
    """What an error is about, for code that acts on it (the audit) without
    reading its text.  Most errors have no kind (``None``)."""

    # Caffe's filler CHECKs (FillerError), one per check.
    SOLVER_AS_NET = "a solver given as a net"  # a file that is no net, but a solver
    UNKNOWN_FILLER = "unknown filler"  # GetFiller: Unknown filler name
    EMPTY_BLOB = "empty blob"  # blob->count()
    SPARSE_UNSUPPORTED = "sparse unsupported"  # sparse() == -1 outside gaussian
    SPARSE_BELOW_DENSE = "sparse below -1"  # sparse >= -1
    SPARSE_NO_AXIS = "sparse without an axis"  # blob->num_axes() >= 1
    SPARSE_TOO_DENSE = "sparse probability above 1"  # p <= 1
    NONPOSITIVE_SIGMA = "non-positive sigma"  # sigma > 0
    UNIFORM_MIN_ABOVE_MAX = "uniform min above max"  # a <= b
    BILINEAR_NOT_4D = "bilinear blob not 4-D"  # blob->num_axes() == 4
    BILINEAR_NOT_SQUARE = "bilinear kernel not square"  # blob->width() == blob->height()
    LEGACY_AXES = "legacy accessors on > 4 axes"  # num_axes() <= 4
    MISSING_AXIS = "blob lacks the axis"  # Blob::shape(index)'s axis range
    # Net set-up (NetError).
    UNKNOWN_LAYER_TYPE = "unknown layer type"  # registry.count(type) == 1
    MISSING_INPUT = "missing input"  # a top whose shape lives outside the prototxt
    UNKNOWN_BOTTOM = "unknown bottom"  # Net::AppendBottom: Unknown bottom blob


@dataclass(frozen=True)
class NeededInput:
    """A top whose shape must be given with ``--input TOP=DIMS``."""

    top: str
    #: What to pass, e.g. ``"N,C,H,W"``.
    dims: str
    #: Whether a ``C,H,W`` shape (one stored record or image) is accepted too.
    one_record: bool = False


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
        kind: ErrorKind | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line
        self.column = column
        self.layer = layer
        self.caffe_message = caffe_message
        self.kind = kind

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


_E = TypeVar("_E", bound=BaseException)


def kept(exc: _E) -> _E:
    """``exc``, to keep past its handler, without the tracebacks of it and of
    the exceptions it was raised from.  Their frames hold everything the failed
    work had built, and the handler's own frame (which holds ``exc``): a
    reference cycle only the cyclic collector frees, slowly (the audit keeps the
    refusals it meets, a net's set-up error, and sets nets up again after one)."""
    stack: list[BaseException] = [exc]
    seen: set[int] = set()
    while stack:
        current = stack.pop()
        if id(current) not in seen:
            seen.add(id(current))
            current.__traceback__ = None
            stack.extend(e for e in (current.__context__, current.__cause__) if e is not None)
    return exc


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

    #: The top whose missing shape stopped the set-up, if that did (its kind is
    #: then :attr:`ErrorKind.MISSING_INPUT`).
    needed_input: NeededInput | None = None
    #: Every top whose missing shape is needed (the first is ``needed_input``).
    needed_inputs: list[NeededInput] | None = None
    #: The bottom no earlier layer makes (kind :attr:`ErrorKind.UNKNOWN_BOTTOM`).
    missing_bottom: str | None = None


class WriteError(CaffefillError):
    """An output that cannot be written."""
