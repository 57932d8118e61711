"""The built-in layer registry entries, one module per family.

Importing this package registers every layer type of BVLC Caffe 1.0 (plus
Swish and Clip from BVLC master) and the fork types caffefill knows
(SSD, SegNet, PSPNet, Fast/Faster R-CNN, R-FCN, depthwise convolutions).
"""

from __future__ import annotations

from . import data, forks, learnable, loss, neuron, recurrent, shape, vision

__all__ = ["data", "forks", "learnable", "loss", "neuron", "recurrent", "shape", "vision"]
