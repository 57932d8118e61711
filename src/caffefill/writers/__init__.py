"""Weight file formats: one module per format, chosen by extension or name.

Each format module has ``write(temp_path, blobs, meta, model)``; :data:`FORMATS`
names its extensions, and the module is imported only when its format is used.
:func:`write_weights` makes every write atomic; :mod:`caffefill.readers` reads
any of them back (:func:`load_weights`).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ..errors import CaffefillError, WriteError

if TYPE_CHECKING:  # numpy is imported only by what writes or reads values
    from ..weights import Weights
    from .base import BlobLike

#: Format name -> the file name endings that imply it (a module of that name writes it).
FORMATS: dict[str, tuple[str, ...]] = {
    "npz": (".npz",),
    "npy": (".npydir",),
    "caffemodel": (".caffemodel", ".caffemodel.pb", ".binaryproto"),
    "h5": (".h5", ".hdf5"),
    "safetensors": (".safetensors",),
}


def format_module(fmt: str) -> ModuleType:
    """The module that reads and writes format ``fmt`` (a key of FORMATS)."""
    return importlib.import_module(f"{__name__}.{fmt}")


#: The output name that means standard output (``-o -``).
STDOUT = "-"
#: Formats written strictly in order, so they can go to standard output.
STREAMING = ("npz", "caffemodel")


def detect_format(path: str | os.PathLike[str], explicit: str | None = None) -> str:
    """The format named, or the one the path's extension implies."""
    if explicit is not None:
        key = explicit.lower().lstrip(".")
        if key not in FORMATS:
            raise CaffefillError(f"unknown format {explicit!r}: use one of {', '.join(FORMATS)}")
        return key
    text = str(path)
    if text == STDOUT:
        raise WriteError("writing to standard output (-o -) needs --format "
                         f"{' or --format '.join(STREAMING)}")
    lowered = text.lower()
    for name, extensions in FORMATS.items():
        if lowered.endswith(extensions):
            return name
    if text.endswith(("/", os.sep)) or Path(text).is_dir() or lowered.endswith(".npy"):
        return "npy"
    raise CaffefillError(
        f"cannot tell the format of {text!r} from its extension: use .npz, .caffemodel, .h5, "
        f".safetensors, a folder name ending in '/', or --format")


def prepare_output(path: str | os.PathLike[str], fmt: str, force: bool, *,
                   inputs: Iterable[str | os.PathLike[str] | None] = ()) -> Path:
    """Check the target before any work is done; raises WriteError.  The
    ``inputs`` of the run (the prototxt) are never replaced, even with force."""
    from .atomic import check_target  # here: reading weights needs none of it

    if str(path) == STDOUT:
        if fmt not in STREAMING:
            raise WriteError(f"{fmt} cannot be written to standard output (-o -): only "
                             f"{' and '.join(STREAMING)} are written in one pass")
        if sys.stdout.isatty():
            raise WriteError("standard output is a terminal: redirect it to a file or a pipe "
                             "to write weights there")
        return Path(STDOUT)
    if fmt == "h5":
        format_module("h5").require()
    target = check_target(path, force, directory=(fmt == "npy"))
    for source in inputs:
        if source is None:
            continue
        with contextlib.suppress(OSError):
            if os.path.samefile(target, source):
                raise WriteError(f"the output is this run's input {os.fspath(source)!r}; "
                                 f"--force does not replace it", path=str(target))
    return target


def write_weights(path: str | os.PathLike[str], blobs: Iterable[BlobLike], meta: dict[str, Any],
                  model: Any, *, fmt: str | None = None, force: bool = False) -> Path:
    """Write ``blobs`` atomically; returns the final path."""
    from .atomic import atomic_output

    fmt = detect_format(path, fmt)
    target = prepare_output(path, fmt, force)
    module = format_module(fmt)
    check_model(fmt, model)
    if str(path) == STDOUT:
        out = sys.stdout.buffer
        try:
            module.write_stream(out, blobs, meta, model)
            out.flush()
        except OSError as exc:
            raise WriteError(f"cannot write to standard output ({exc.strerror or exc}); what "
                             f"was sent is incomplete", path=STDOUT) from None
        return target
    try:
        with atomic_output(target, force=force, directory=(fmt == "npy")) as temp:
            module.write(temp, blobs, meta, model)
    except OSError as exc:
        raise WriteError(f"cannot write: {exc.strerror or exc}", path=str(target)) from None
    return target


def check_model(fmt: str, model: Any) -> None:
    """Refuse (WriteError, before anything is drawn) a net the format cannot hold."""
    check = getattr(format_module(fmt), "check_model", None)
    if check is not None:
        try:
            check(model)
        except CaffefillError as exc:
            raise exc.located(path=getattr(model, "path", None)) from None


def load_weights(path: str | os.PathLike[str], *, fmt: str | None = None,
                 max_bytes: int | None = None, lazy: bool = False) -> Weights:
    """:func:`caffefill.readers.load_weights`."""
    from ..readers import load_weights as load

    return load(path, fmt=fmt, max_bytes=max_bytes, lazy=lazy)


__all__ = ["FORMATS", "detect_format", "load_weights", "write_weights"]
