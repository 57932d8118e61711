"""Other Caffe builds: Boost 1.58 and 1.55 normals, BVLC master's fillers.

The golden files under data/profiles/<name>/ were written by real Caffe
builds (each record names its ``caffe`` and ``boost``); every one must be
reproduced bit for bit, and every refusal must carry Caffe's own CHECK text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import DATA, check_golden_filler, load_jsonl

import caffefill
from caffefill import _core
from caffefill.errors import CaffefillError
from caffefill.fillers import fans
from caffefill.profiles import Profile, resolve

PROFILES = ("boost-1.58", "boost-1.55", "caffe-master")
PROFILE_DIR = DATA / "profiles"


def _cases() -> list[tuple[Path, dict[str, Any]]]:
    cases: list[tuple[Path, dict[str, Any]]] = []
    for name in PROFILES:
        folder = PROFILE_DIR / name
        cases.extend((folder, case) for case in load_jsonl(folder / "fillers.jsonl"))
    return cases


CASES = _cases()


def _id(item: tuple[Path, dict[str, Any]]) -> str:
    folder, case = item
    return f"{folder.name}-{case['id']}-{case['filler']}-{case['shape']}-s{case['seed']}"


def _fill(case: dict[str, Any], shape: Any = None) -> np.ndarray:
    return caffefill.fill(case["filler"], case["shape"] if shape is None else shape,
                          seed=case["seed"], caffe=case["caffe"], boost=case["boost"])


@pytest.mark.parametrize("item", CASES, ids=_id)
def test_profile_golden_filler(item: tuple[Path, dict[str, Any]]) -> None:
    folder, case = item
    check_golden_filler(case, folder)


def test_profile_data_is_complete() -> None:
    for name in PROFILES:
        cases = load_jsonl(PROFILE_DIR / name / "fillers.jsonl")
        assert len(cases) == 393
        assert len({(c["caffe"], c["boost"]) for c in cases}) == 1
        for case in cases:
            if case.get("data_file"):
                assert (PROFILE_DIR / name / case["data_file"]).is_file()
    # The big Gaussian cases are what exercise the slow paths and the tail.
    big = [c for c in load_jsonl(PROFILE_DIR / "boost-1.58" / "fillers.jsonl")
           if c.get("count", 0) > 10_000_000 and "gaussian" in c["filler"]]
    assert big


# ------------------------------------------------------------ resolve()


@pytest.mark.parametrize(
    ("boost", "kind", "normalised"),
    [
        ("1.58", "NORMAL_ZIGGURAT_156", "1.58"),
        ("1.58.0", "NORMAL_ZIGGURAT_156", "1.58"),
        ("1.56", "NORMAL_ZIGGURAT_156", "1.56"),
        ("1_63", "NORMAL_ZIGGURAT_156", "1.63"),
        ("1_54", "NORMAL_BOX_MULLER", "1.54"),
        ("1.55", "NORMAL_BOX_MULLER", "1.55"),
        ("1_55_0", "NORMAL_BOX_MULLER", "1.55"),
        ("1.64", "NORMAL_ZIGGURAT_164", "1.64"),
        ("1.74.0", "NORMAL_ZIGGURAT_164", "1.74"),
        (" 1.83 ", "NORMAL_ZIGGURAT_164", "1.83"),
    ],
)
def test_resolve_maps_boost_to_its_normal(boost: str, kind: str, normalised: str) -> None:
    profile = resolve(boost=boost)
    assert profile.normal_kind == getattr(_core, kind)
    assert profile.boost == normalised
    assert profile.caffe == "1.0"


def test_resolve_defaults() -> None:
    assert resolve() == Profile(caffe="1.0", boost="1.74")
    assert resolve().normal_kind == _core.NORMAL_ZIGGURAT_164
    assert resolve(caffe="master").legacy_fans is False
    assert resolve(caffe="1.0").legacy_fans is True


@pytest.mark.parametrize("boost", ["", "1", "2.58", "1.", "1.x", "1.58.0.1", "v1.58",
                                   "1-58", "latest", "1.58a"])
def test_resolve_refuses_bad_boost_strings(boost: str) -> None:
    with pytest.raises(CaffefillError):
        resolve(boost=boost)


@pytest.mark.parametrize("caffe", ["", "0.9", "1.1", "Master", "rc5"])
def test_resolve_refuses_unknown_caffe(caffe: str) -> None:
    with pytest.raises(CaffefillError):
        resolve(caffe=caffe)


def test_fill_refuses_bad_boost() -> None:
    with pytest.raises(CaffefillError):
        caffefill.fill('type: "gaussian"', [4], seed=1, boost="one point five eight")


# ------------------------------------------------------------ Boost behaviour


def test_uniform_and_bernoulli_draws_do_not_depend_on_boost() -> None:
    for filler in ('type: "uniform" min: -3 max: 7', 'type: "xavier"',
                   'type: "positive_unitball"', 'type: "constant" value: 2'):
        runs = [caffefill.fill(filler, [8, 5, 3], seed=42, boost=b)
                for b in ("1.55", "1.58", "1.74")]
        for run in runs[1:]:
            np.testing.assert_array_equal(run, runs[0])


def test_normals_differ_between_boost_generations() -> None:
    # Box-Muller has nothing in common with the ziggurat; the two ziggurats
    # agree until the first slow-path or tail draw.
    z164 = caffefill.fill('type: "gaussian"', [200_000], seed=7, boost="1.74")
    z156 = caffefill.fill('type: "gaussian"', [200_000], seed=7, boost="1.58")
    box = caffefill.fill('type: "gaussian"', [200_000], seed=7, boost="1.55")
    differ = np.flatnonzero(z164 != z156)
    assert differ.size and differ[0] > 1000
    # The first difference is a tail draw (beyond table_x[1] ~ 3.44).
    assert abs(z156[differ[0]]) > 3.44
    assert not np.any(box[:4] == z164[:4])


def test_box_muller_pairs_reset_with_each_fill_call() -> None:
    # Caffe makes a fresh normal_distribution per caffe_rng_gaussian call:
    # within a call values come in (cos, sin) pairs, across calls the cached
    # sine value is dropped.
    pairs = caffefill.fill('type: "gaussian"', [4], seed=11, boost="1.55")
    rng = caffefill.CaffeRNG(11)
    one = caffefill.fill('type: "gaussian"', [1], rng=rng, boost="1.55")
    two = caffefill.fill('type: "gaussian"', [1], rng=rng, boost="1.55")
    assert one[0] == pairs[0]
    assert two[0] == pairs[2]
    # An odd count draws a whole last pair and drops its sine value.
    six = caffefill.fill('type: "gaussian"', [6], seed=11, boost="1.55")
    rng = caffefill.CaffeRNG(11)
    odd = caffefill.fill('type: "gaussian"', [3], rng=rng, boost="1.55")
    after = caffefill.fill('type: "gaussian"', [1], rng=rng, boost="1.55")
    np.testing.assert_array_equal(odd, pairs[:3])
    assert after[0] == six[4]


def test_box_muller_mean_and_sigma() -> None:
    unit = caffefill.fill('type: "gaussian"', [9], seed=3, boost="1.55")
    moved = caffefill.fill('type: "gaussian" mean: 1.5 std: 0.25', [9], seed=3, boost="1.55")
    np.testing.assert_array_equal(moved, unit * np.float32(0.25) + np.float32(1.5))


def test_boost155_refuses_a_range_wider_than_float() -> None:
    # Boost <= 1.55 retries forever (Caffe hangs); 1.56+ draws twice the half range.
    filler = 'type: "uniform" min: -3e38 max: 3e38'
    with pytest.raises(caffefill.FillerError):
        caffefill.fill(filler, [4], seed=1, boost="1.55")
    np.testing.assert_array_equal(caffefill.fill(filler, [4], seed=1, boost="1.58"),
                                  caffefill.fill(filler, [4], seed=1, boost="1.74"))
    wide_but_finite = caffefill.fill('type: "uniform" min: -1e38 max: 1e38', [4], seed=1,
                                     boost="1.55")
    np.testing.assert_array_equal(
        wide_but_finite,
        caffefill.fill('type: "uniform" min: -1e38 max: 1e38', [4], seed=1, boost="1.74"))


# ------------------------------------------------------------ BVLC master


def test_master_fans() -> None:
    master = Profile(caffe="master")
    assert fans((64, 3, 7, 7), master) == fans((64, 3, 7, 7))
    assert (fans((10,), master).fan_in, fans((10,), master).fan_out) == (1, 10)
    f = fans((2, 3, 3, 3, 3), master)
    assert (f.fan_in, f.fan_out) == (81, 54)


@pytest.mark.parametrize("filler", ['type: "xavier"', 'type: "msra"',
                                    'type: "positive_unitball"'])
def test_master_accepts_nd_blobs_and_10_refuses_them(filler: str) -> None:
    values = caffefill.fill(filler, [2, 3, 3, 3, 3], seed=5, caffe="master")
    assert values.shape == (2, 3, 3, 3, 3)
    with pytest.raises(caffefill.FillerError) as info:
        caffefill.fill(filler, [2, 3, 3, 3, 3], seed=5, caffe="1.0")
    assert info.value.caffe_message == (
        "Check failed: num_axes() <= 4 (5 vs. 4) "
        "Cannot use legacy accessors on Blobs with > 4 axes.")


def test_master_positive_unitball_rows_are_shape0() -> None:
    values = caffefill.fill('type: "positive_unitball"', [3, 2, 2, 2, 2], seed=9,
                            caffe="master")
    sums = values.reshape(3, -1).sum(axis=1, dtype=np.float64)
    np.testing.assert_allclose(sums, 1.0, rtol=1e-5)


@pytest.mark.parametrize("filler", ['type: "xavier"', 'type: "msra"',
                                    'type: "positive_unitball"'])
def test_master_refuses_0d_blobs_as_shape0_does(filler: str) -> None:
    with pytest.raises(caffefill.FillerError) as info:
        caffefill.fill(filler, [], seed=5, caffe="master")
    assert info.value.caffe_message == (
        "Check failed: axis_index < num_axes() (0 vs. 0) "
        "axis 0 out of range for 0-D Blob with shape (1)")
    # Caffe 1.0's num()/channels() read a missing axis as 1.
    assert caffefill.fill(filler, [], seed=5, caffe="1.0").shape == ()
