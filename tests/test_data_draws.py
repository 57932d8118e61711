"""Data layers take raw draws from the stream at setup (seeding their own
generators), which shifts every fill after them.  Caffe 1.0's counts, from
its sources; test_data_layers_golden.py checks them against real Caffe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import caffefill
from caffefill import CaffeRNG

CONV = ('layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" '
        'convolution_param { num_output: 4 kernel_size: 3 '
        'weight_filler { type: "gaussian" std: 0.1 } } }\n')


def _net(tmp_path: Path, data_layer: str) -> Path:
    path = tmp_path / "net.prototxt"
    path.write_text(data_layer + "\n" + CONV)
    return path


def _expected(seed: int, skipped: int) -> np.ndarray:
    rng = CaffeRNG(seed)
    rng.discard(skipped)
    return caffefill.fill('type: "gaussian" std: 0.1', (4, 3, 3, 3), rng=rng)


@pytest.mark.parametrize("phase,transform,draws", [
    ("TRAIN", "mirror: true crop_size: 8", 3),   # transformer twice + prefetch thread
    ("TEST", "mirror: true", 3),
    ("TEST", "crop_size: 8", 1),                 # crop is random only in TRAIN
    ("TRAIN", "crop_size: 8", 3),
    ("TRAIN", "", 1),                            # just the prefetch thread
])
def test_data_layer_draws(tmp_path: Path, phase: str, transform: str, draws: int) -> None:
    net = _net(tmp_path, 'layer { name: "data" type: "Data" top: "data" top: "label" '
                         f'transform_param {{ {transform} }} '
                         'data_param { source: "db" batch_size: 2 backend: LMDB } }')
    got = caffefill.init_net(net, phase=phase, seed=1701, inputs={"data": (2, 3, 10, 10)})
    np.testing.assert_array_equal(got["conv"][0], _expected(1701, draws))


def test_image_data_shuffle_and_rand_skip(tmp_path: Path) -> None:
    net = _net(tmp_path, 'layer { name: "data" type: "ImageData" top: "data" top: "label" '
                         'image_data_param { source: "list.txt" batch_size: 2 shuffle: true '
                         'rand_skip: 5 new_height: 10 new_width: 10 } }')
    got = caffefill.init_net(net, phase="TEST", seed=3)
    np.testing.assert_array_equal(got["conv"][0], _expected(3, 3))


def test_hdf5_and_input_do_not_draw(tmp_path: Path) -> None:
    net = _net(tmp_path, 'layer { name: "data" type: "HDF5Data" top: "data" '
                         'hdf5_data_param { source: "h5.txt" batch_size: 2 shuffle: true } }')
    got = caffefill.init_net(net, phase="TRAIN", seed=5, inputs={"data": (2, 3, 10, 10)})
    np.testing.assert_array_equal(got["conv"][0], _expected(5, 0))
