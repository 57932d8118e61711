"""Statistical properties of the fillers, as Caffe's own filler tests check them.

These are independent of the golden files: they check what each filler
means (bounds, moments, normalisation, sparsity), on Caffe's test shapes.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import caffefill
from caffefill.fillers import fans, parse_filler

SMALL = (2, 3, 4, 5)
BIG = (1000, 2, 4, 5)


def test_constant_is_constant() -> None:
    values = caffefill.fill('type: "constant" value: 10.0', SMALL, seed=1701)
    assert np.all(values == np.float32(10.0))


def test_uniform_stays_in_bounds_and_is_spread() -> None:
    values = caffefill.fill('type: "uniform" min: 1.0 max: 2.0', BIG, seed=1701)
    assert values.min() >= 1.0 and values.max() <= 2.0
    assert abs(values.mean() - 1.5) < 0.01
    assert abs(values.var() - 1 / 12) < 0.005


def test_positive_unitball_rows_sum_to_one() -> None:
    values = caffefill.fill('type: "positive_unitball"', SMALL, seed=1701)
    assert values.min() >= 0.0 and values.max() <= 1.0
    sums = values.reshape(SMALL[0], -1).sum(axis=1, dtype=np.float64)
    np.testing.assert_allclose(sums, 1.0, atol=1e-5)


@pytest.mark.parametrize("mean,std", [(10.0, 0.1), (0.0, 1.0), (-3.0, 0.005)])
def test_gaussian_moments(mean: float, std: float) -> None:
    values = caffefill.fill(f'type: "gaussian" mean: {mean} std: {std}', BIG, seed=1701)
    assert abs(values.mean(dtype=np.float64) - mean) < std * 0.05
    assert abs(values.std(dtype=np.float64) / std - 1.0) < 0.02


def test_gaussian_tail_is_present_and_symmetric() -> None:
    # 4M standard normals: the ziggurat tail starts at 3.44; about 0.06 %
    # of draws lie beyond it, on both sides.
    values = caffefill.fill('type: "gaussian"', (4_000_000,), seed=9)
    beyond = np.abs(values) > 3.4426
    assert 1500 < beyond.sum() < 3000
    assert abs(int((values > 3.4426).sum()) - int((values < -3.4426).sum())) < 250
    assert np.abs(values).max() > 4.5


@pytest.mark.parametrize("sparse", [1, 3])
def test_sparse_gaussian_keeps_about_sparse_per_output(sparse: int) -> None:
    shape = (200, 400)
    values = caffefill.fill(f'type: "gaussian" std: 0.2 sparse: {sparse}', shape, seed=5)
    probability = sparse / shape[0]
    nonzero = np.count_nonzero(values) / values.size
    assert abs(nonzero - probability) < probability * 0.15


@pytest.mark.parametrize("norm", ["FAN_IN", "FAN_OUT", "AVERAGE"])
def test_xavier_variance(norm: str) -> None:
    text = f'type: "xavier" variance_norm: {norm}'
    values = caffefill.fill(text, BIG, seed=1701)
    f = fans(BIG)
    n = {"FAN_IN": f.fan_in, "FAN_OUT": f.fan_out, "AVERAGE": (f.fan_in + f.fan_out) / 2}[norm]
    scale = math.sqrt(3 / n)
    assert values.min() >= -scale and values.max() <= scale
    assert abs(values.mean()) < 0.1 * scale
    assert abs(values.std(dtype=np.float64) / math.sqrt(1 / n) - 1) < 0.02


@pytest.mark.parametrize("norm", ["FAN_IN", "FAN_OUT", "AVERAGE"])
def test_msra_variance(norm: str) -> None:
    values = caffefill.fill(f'type: "msra" variance_norm: {norm}', BIG, seed=1701)
    f = fans(BIG)
    n = {"FAN_IN": f.fan_in, "FAN_OUT": f.fan_out, "AVERAGE": (f.fan_in + f.fan_out) / 2}[norm]
    assert abs(values.mean()) < 0.05 * math.sqrt(2 / n)
    assert abs(values.std(dtype=np.float64) / math.sqrt(2 / n) - 1) < 0.02


@pytest.mark.parametrize("k", [2, 3, 4, 5, 6, 8])
def test_bilinear_is_a_separable_tent(k: int) -> None:
    values = caffefill.fill('type: "bilinear"', (3, 1, k, k), seed=1)
    kernel = values[0, 0].astype(np.float64)
    # Every channel holds the same kernel, an outer product of one profile.
    for plane in values.reshape(-1, k, k):
        np.testing.assert_array_equal(plane, values[0, 0])
    s = np.linalg.svd(kernel, compute_uv=False)
    assert s[1] < 1e-6 * s[0]
    assert kernel.max() <= 1.0 and kernel.min() >= 0.0
    if k % 4 == 0:  # 1.0's formula is symmetric when ceil(k / 2) is even (4x4: 2x upsampling)
        np.testing.assert_allclose(kernel, kernel[::-1, ::-1], atol=1e-7)


def test_fans_use_legacy_accessors() -> None:
    assert fans((64, 3, 7, 7)) == fans((64, 3, 7, 7))
    f = fans((64, 3, 7, 7))
    assert (f.fan_in, f.fan_out) == (3 * 49, 64 * 49)
    f = fans((10,))  # num() = 10, channels() = 1
    assert (f.fan_in, f.fan_out) == (1, 10)


def test_filler_text_and_message_are_equivalent() -> None:
    param = parse_filler('type: "msra" variance_norm: AVERAGE')
    a = caffefill.fill(param, (8, 4, 3, 3), seed=11)
    b = caffefill.fill('type: "msra" variance_norm: AVERAGE', (8, 4, 3, 3), seed=11)
    np.testing.assert_array_equal(a, b)


def test_refusals_explain_the_fix() -> None:
    with pytest.raises(caffefill.FillerError, match='did you mean "xavier"'):
        caffefill.fill('type: "Xavier"', (4, 4), seed=1)
    with pytest.raises(caffefill.FillerError, match="swap them"):
        caffefill.fill('type: "uniform" min: 1 max: 0', (4, 4), seed=1)
    with pytest.raises(caffefill.FillerError, match="no values"):
        caffefill.fill('type: "gaussian"', (0, 4), seed=1)
    with pytest.raises(caffefill.FillerError, match="std > 0"):
        caffefill.fill('type: "gaussian" std: 0', (4,), seed=1)
    with pytest.raises(caffefill.FillerError, match="cannot read filler"):
        caffefill.fill('type: "gaussian" stdd: 1', (4,), seed=1)
