"""caffefill: Caffe's initial weights, bit for bit, without Caffe.

The public API:

* :class:`CaffeRNG` - Caffe's single mt19937 random stream;
* :func:`fill` - one filler call on one blob;
* :func:`init_net` - a whole net's initial weights, as Caffe's Net constructor fills them;
* :func:`load_weights` - read any weights file caffefill writes;
* :func:`forward` - one forward pass of the initialised net, as Caffe computes it
  (blob name -> array; needs torch);
* :class:`Weights` - what both return: layer -> list of arrays, with ``.meta``;
* :data:`TRAIN`, :data:`TEST` - the phases, as pycaffe spells them;
* :class:`CaffefillError` and its subclasses, raised on bad input (``kind``: an
  :class:`ErrorKind` for errors code may act on, such as a missing input).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import CaffefillError, ErrorKind, FillerError, NetError, ParseError, WriteError
from .weights import Weights

if TYPE_CHECKING:  # imported on first use (below): `import caffefill` stays light
    from .fillers import FillerParameter, fill
    from .init import init_net
    from .rng import CaffeRNG
    from .writers import load_weights

#: Caffe's phases (``caffe.TRAIN``, ``caffe.TEST`` in pycaffe), for ``init_net(path, phase)``.
TRAIN = 0
TEST = 1


def __getattr__(name: str) -> object:
    # The fillers, net model and writers load lazily: `import caffefill` (and so
    # every command) starts without numpy or protobuf.
    if name in ("fill", "FillerParameter"):
        from . import fillers

        return getattr(fillers, name)
    if name == "CaffeRNG":
        from .rng import CaffeRNG

        return CaffeRNG
    if name == "init_net":
        from .init import init_net

        return init_net
    if name == "load_weights":
        from .writers import load_weights

        return load_weights
    if name == "forward":  # needs torch (the caffefill[torch] extra)
        from .torch.run import forward

        return forward
    raise AttributeError(f"module 'caffefill' has no attribute {name!r}")

__version__ = "0.1.0"

__all__ = [
    "TEST",
    "TRAIN",
    "CaffeRNG",
    "CaffefillError",
    "ErrorKind",
    "FillerError",
    "FillerParameter",
    "NetError",
    "ParseError",
    "Weights",
    "WriteError",
    "__version__",
    "fill",
    "forward",
    "init_net",
    "load_weights",
]
