"""Generated protobuf modules (built from proto/caffefill.proto at install time),
and what caffefill asks of their descriptors."""

from __future__ import annotations

from typing import Any


def is_repeated(fd: Any) -> bool:
    """Whether a protobuf field descriptor is repeated (``is_repeated`` in newer
    protobuf, ``label`` in older)."""
    flag = getattr(fd, "is_repeated", None)
    if flag is not None:
        return bool(flag)
    return bool(fd.label == fd.LABEL_REPEATED)
