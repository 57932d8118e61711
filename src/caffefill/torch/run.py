"""``caffefill.forward``: one forward pass of a freshly initialised net."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from ..fillers import fill_blob, parse_filler
from .module import CaffeNet

#: The filler the reference forward passes fill the net inputs with.
UNIT_GAUSSIAN = 'type: "gaussian" mean: 0 std: 1'


def fill_inputs(net: CaffeNet, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The net's inputs: ``data`` where given; every other Input top filled with a
    unit Gaussian from the net's stream (GaussianFiller std 1, in
    ``net.input_blobs()`` order), as the reference forward passes are made."""
    given = dict(data or {})
    gaussian = parse_filler(UNIT_GAUSSIAN)
    for name in net.net_inputs:
        if name in given:
            continue
        array = np.empty(net.input_shapes[name], dtype=np.float32)
        fill_blob(gaussian, array, net.rng, net.prepared.profile)
        given[name] = array
    return given


def forward(
    path: str | os.PathLike[str],
    *,
    phase: str | int = "TEST",
    seed: int | None = None,
    inputs: Mapping[str, Sequence[int]] | None = None,
    data: Mapping[str, Any] | None = None,
    stages: Sequence[str] = (),
    level: int = 0,
    caffe: str | None = None,
    boost: str | None = None,
) -> dict[str, np.ndarray]:
    """What pycaffe's ``net.blobs`` holds after ``net.forward()`` on a net just
    built with ``caffe.set_random_seed(seed); caffe.Net(path, phase)``.

    ``inputs`` gives the shapes of data-layer tops (as ``--input`` does);
    ``data`` their values.  Input-layer tops not in ``data`` are filled with a
    unit Gaussian drawn from the same stream right after the weights; the tops
    of other data layers must be in ``data``.  Returns blob name -> float32
    array, in Caffe's blob order.
    """
    net = CaffeNet(path, phase=phase, seed=seed, stages=stages, level=level, inputs=inputs,
                   caffe=caffe, boost=boost)
    given = fill_inputs(net, data)
    with torch.no_grad():
        blobs = net(given)
    return {name: value.detach().numpy().astype(np.float32, copy=False)
            for name, value in blobs.items()}
