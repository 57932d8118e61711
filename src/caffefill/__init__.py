"""caffefill: Caffe's initial weights, bit for bit, without Caffe.

The public API:

* :class:`CaffeRNG` - Caffe's single mt19937 random stream;
* :func:`fill` - one filler call on one blob;
* :func:`init_net` - a whole net's initial weights, as Caffe's Net constructor fills them;
* :func:`load_weights` - read any weights file caffefill writes;
* :func:`forward` - one forward pass of the initialised net, as Caffe computes it
  (blob name -> array; needs torch);
* :class:`CaffefillError` and its subclasses, raised on bad input (``kind``: an
  :class:`ErrorKind` for errors code may act on, such as a missing input).
"""

from __future__ import annotations

from .errors import CaffefillError, ErrorKind, FillerError, NetError, ParseError, WriteError
from .fillers import FillerParameter, fill
from .rng import CaffeRNG


def __getattr__(name: str) -> object:
    # The net model and writers load lazily: `import caffefill` stays light.
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
    "CaffeRNG",
    "CaffefillError",
    "ErrorKind",
    "FillerError",
    "FillerParameter",
    "NetError",
    "ParseError",
    "WriteError",
    "__version__",
    "fill",
    "forward",
    "init_net",
    "load_weights",
]
