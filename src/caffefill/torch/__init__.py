"""Caffe nets as PyTorch modules (needs the ``caffefill[torch]`` extra).

* :class:`CaffeNet` - a prototxt as a ``torch.nn.Module`` holding caffefill's
  exact initial weights, whose forward is Caffe's;
* :func:`forward` - one forward pass of a freshly initialised net, as numpy;
* :func:`fill_` and :func:`load_caffe_init` - Caffe's initial values for a
  module of your own.

torch is imported when one of these is first used, so
``caffefill.writers.names.state_keys`` (the state_dict names) works without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .module import CaffeLayer, CaffeNet
    from .port import fill_, load_caffe_init
    from .run import forward

_WHERE = {"CaffeNet": "module", "CaffeLayer": "module", "forward": "run", "fill_": "port",
          "load_caffe_init": "port"}


def require_torch(who: str) -> None:
    """Refuse in one line (a CaffefillError) when PyTorch is missing; ``who``
    names what runs the net with it ("probe", "LSUV")."""
    try:
        import torch  # noqa: F401
    except ImportError:
        from ..errors import CaffefillError

        raise CaffefillError(f"{who} runs the net with PyTorch: install the torch extra "
                             "(pip install 'torch==2.13.0' 'caffefill[torch]')") from None


def __getattr__(name: str) -> object:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["CaffeLayer", "CaffeNet", "fill_", "forward", "load_caffe_init", "require_torch"]
