"""The one result type of :func:`caffefill.init_net` and :func:`caffefill.load_weights`."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy only for the types: reading an index needs no numpy
    import numpy as np

    from .net.model import NetModel

    #: What a Weights is built from: a mapping or (layer, blobs) pairs.
    WeightsSource = (Mapping[str, Iterable[np.ndarray]]
                     | Iterable[tuple[str, Iterable[np.ndarray]]])
    _Layers = OrderedDict[str, list[np.ndarray]]
else:
    _Layers = OrderedDict


class Weights(_Layers):
    """Layer name -> its blobs, in net order, like pycaffe's ``net.params``
    (``weights["conv1"][0]`` is ``net.params["conv1"][0].data``).

    Arrays are float32 for everything caffefill draws; a file read back holds
    what it stores.  :attr:`meta` is the metadata every output records (seed,
    phase, stages, level, Caffe/Boost profile, prototxt SHA-256, ...); for
    :func:`caffefill.init_net`, :attr:`model` is the net as it was set up.
    """

    meta: dict[str, Any]
    model: NetModel | None

    def __init__(self, params: WeightsSource = (), meta: Mapping[str, Any] | None = None, *,
                 model: NetModel | None = None) -> None:
        items = params.items() if isinstance(params, Mapping) else params
        super().__init__((str(name), list(blobs)) for name, blobs in items)
        self.meta = dict(meta or {})
        self.model = model

    @property
    def params(self) -> Weights:
        """The mapping itself (pycaffe's ``net.params`` spelling)."""
        return self

    @property
    def phase(self) -> str | None:
        """The phase the net was set up in ("TRAIN" or "TEST"), when recorded."""
        phase = self.meta.get("phase")
        return phase if isinstance(phase, str) else None

    @property
    def seed(self) -> int | None:
        """The seed the weights were drawn with, when recorded."""
        seed = self.meta.get("seed")
        return seed if isinstance(seed, int) else None

    def __repr__(self) -> str:
        layers = ", ".join(f"{name!r}: {len(blobs)}" for name, blobs in self.items())
        return f"Weights({{{layers}}}, seed={self.seed})"
