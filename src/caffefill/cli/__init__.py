"""The ``caffefill`` command line: a thin layer over the library.

One module per command (``init``, ``fill``, ``show``, ``upgrade``, ``diff``,
``audit``), each with ``add_parser`` and ``run``; what they share (exit
codes, argument types, option groups, defaults) is in :mod:`.options`; the
parser and the entry point :func:`main` are in :mod:`.app`.

Every error about the input is one line on stderr - ``file:line:col: layer
'x': what is wrong`` - and exit status 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

from .app import build_parser, main

__all__ = ["build_parser", "main"]
