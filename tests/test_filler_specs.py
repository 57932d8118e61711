"""The filler specs: one per type, and everything that reads them agrees."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import caffefill
from caffefill.audit import AuditOptions, audit_text
from caffefill.audit.signal import weight_moment
from caffefill.errors import FillerError
from caffefill.fillers import SPECS, describe, filler_spec, parse_filler, plan_pieces
from caffefill.net.load import load_net
from caffefill.profiles import resolve
from caffefill.rng import CaffeRNG
from caffefill.show import summarize

#: One setting of every filler type that a (4, 3, 3, 3) convolution weight accepts.
SETTINGS = {
    "constant": 'type: "constant" value: 0.25',
    "gaussian": 'type: "gaussian" mean: 0.1 std: 0.02',
    "positive_unitball": 'type: "positive_unitball"',
    "uniform": 'type: "uniform" min: -0.5 max: 1.5',
    "xavier": 'type: "xavier" variance_norm: AVERAGE',
    "msra": 'type: "msra"',
    "bilinear": 'type: "bilinear"',
    "orthogonal": 'type: "orthogonal" gain: 1.5',
    "trunc_normal": 'type: "trunc_normal" mean: 0.5 std: 0.2 a: -1 b: 3',
}
PROFILES = [resolve(None, None), resolve("master", None), resolve(None, "1.55")]


def test_every_type_has_a_setting() -> None:
    assert set(SETTINGS) == set(SPECS)


def _net(tmp_path: Path, filler: str) -> Path:
    path = tmp_path / "net.prototxt"
    path.write_text(
        'layer { name: "data" type: "Input" top: "data" '
        "input_param { shape { dim: 2 dim: 3 dim: 8 dim: 8 } } }\n"
        'layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" '
        f"convolution_param {{ num_output: 4 kernel_size: 3 bias_term: false "
        f"weight_filler {{ {filler} }} }} }}\n")
    return path


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: f"{p.caffe}-{p.boost}")
@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_show_and_audit_agree_with_the_values(tmp_path: Path, name: str, profile: object) -> None:
    # show's std and the audit's E[w^2] come from one spec, and match what is drawn.
    filler = parse_filler(SETTINGS[name])
    _, model = load_net(_net(tmp_path, SETTINGS[name]))
    (row,) = summarize(model, profile)  # type: ignore[arg-type]
    ctx = SimpleNamespace(profile=profile)
    shape = tuple(row.shape)
    moment = weight_moment(filler, shape, ctx)  # type: ignore[arg-type]
    assert row.std is not None and moment is not None
    moments = SPECS[name].moments(filler, shape, profile)  # type: ignore[arg-type]
    assert moments is not None
    mean, square = moments
    assert moment == square
    assert math.isclose(row.std, math.sqrt(max(square - mean * mean, 0.0)))
    # Against the values themselves, over many seeds (the moments are over the stream).
    values = np.stack([caffefill.fill(filler, shape, seed=seed, caffe=profile.caffe,  # type: ignore[attr-defined]
                                      boost=profile.boost)  # type: ignore[attr-defined]
                       for seed in range(200)]).astype(np.float64)
    assert math.isclose(values.mean(), mean, rel_tol=0.05, abs_tol=0.02 * math.sqrt(square))
    assert math.isclose(np.square(values).mean(), square, rel_tol=0.05)


def test_caffefill_own_fillers_are_marked() -> None:
    assert [name for name, spec in SPECS.items() if not spec.caffe] == ["orthogonal",
                                                                         "trunc_normal"]
    assert describe(parse_filler('type: "orthogonal" gain: 2')) == \
        "orthogonal(gain=2) [caffefill]"
    assert describe(parse_filler('type: "msra"')) == "msra(FAN_IN)"
    assert describe(parse_filler('type: "gaussian" std: 0.01')) == "gaussian(std=0.01)"


def test_unknown_type_lists_every_spec() -> None:
    with pytest.raises(FillerError) as caught:
        filler_spec("orthognal")
    assert 'did you mean "orthogonal"' in caught.value.message
    assert caught.value.caffe_message == "Check failed: false Unknown filler name: orthognal"


# ---------------------------------------------------------------- orthogonal


@pytest.mark.parametrize("shape", [(4, 3, 3, 3), (64, 10), (3, 100), (7,), ()])
def test_orthogonal_is_the_documented_qr(shape: tuple[int, ...]) -> None:
    values = caffefill.fill('type: "orthogonal" gain: 2', shape, seed=1701)
    rows = shape[0] if shape else 1
    cols = math.prod(shape) // rows
    # Its definition: a unit gaussian fill of the (rows, cols) matrix, then QR in
    # float64 (of the transpose when wide), signs from R's diagonal, times the gain.
    unit = caffefill.fill('type: "gaussian" std: 1', (rows, cols), seed=1701).astype(np.float64)
    wide = rows < cols
    q, r = np.linalg.qr(unit.T if wide else unit)
    q *= np.where(np.diag(r) < 0, -1.0, 1.0)
    expected = ((q.T if wide else q) * 2.0).astype(np.float32).reshape(shape)
    np.testing.assert_array_equal(values, expected)
    matrix = values.reshape(rows, cols).astype(np.float64)
    gram = matrix @ matrix.T if wide else matrix.T @ matrix
    np.testing.assert_allclose(gram, 4.0 * np.eye(min(rows, cols)), atol=1e-5)


def test_orthogonal_moves_the_stream_as_its_gaussian_draw() -> None:
    rng = CaffeRNG(5)
    caffefill.fill('type: "orthogonal"', (16, 9), rng=rng)
    after = caffefill.fill('type: "uniform"', (5,), rng=rng)
    rng = CaffeRNG(5)
    caffefill.fill('type: "gaussian"', (16, 9), rng=rng)
    np.testing.assert_array_equal(after, caffefill.fill('type: "uniform"', (5,), rng=rng))


# ---------------------------------------------------------------- trunc_normal


def _rounds(seed: int, count: int, boost: str, lo: float, hi: float) -> np.ndarray:
    """trunc_normal's documented draw: rounds of one unit Gaussian call for
    the values still missing, those in [lo, hi] kept in stream order."""
    rng, kept = CaffeRNG(seed), np.empty(0, dtype=np.float32)
    while kept.size < count:
        z = caffefill.fill('type: "gaussian"', (count - kept.size,), rng=rng, boost=boost)
        kept = np.concatenate([kept, z[(z >= np.float32(lo)) & (z <= np.float32(hi))]])
    return kept


@pytest.mark.parametrize("boost", ["1.74", "1.58", "1.55"])
def test_trunc_normal_is_rejection_from_the_gaussian_stream(boost: str) -> None:
    filler = 'type: "trunc_normal" mean: 0.5 std: 0.25 a: -1 b: 1.5'
    values = caffefill.fill(filler, (5001,), seed=42, boost=boost)
    kept = _rounds(42, 5001, boost, -1, 1.5)
    np.testing.assert_array_equal(values, kept * np.float32(0.25) + np.float32(0.5))
    assert values.min() >= 0.25 and values.max() <= 0.875


@pytest.mark.parametrize("boost", ["1.74", "1.58"])
def test_trunc_normal_is_redraw_until_inside_with_the_ziggurat(boost: str) -> None:
    # One stream value per draw: the same as one long call, and the stream is
    # left just after the last kept draw.
    filler = 'type: "trunc_normal" a: -0.5 b: 0.5'
    rng = CaffeRNG(42)
    values = caffefill.fill(filler, (5000,), rng=rng, boost=boost)
    z = caffefill.fill('type: "gaussian"', (40000,), seed=42, boost=boost)
    inside = np.flatnonzero((z >= np.float32(-0.5)) & (z <= np.float32(0.5)))
    np.testing.assert_array_equal(values, z[inside[:5000]])
    reference = CaffeRNG(42)
    caffefill.fill('type: "gaussian"', (int(inside[4999]) + 1,), rng=reference, boost=boost)
    assert rng.rand() == reference.rand()


def test_trunc_normal_by_piece_equals_whole() -> None:
    param = parse_filler('type: "trunc_normal" std: 0.1')
    whole = caffefill.fill(param, (3000,), seed=9)
    fill_piece = plan_pieces(param, (3000,))
    assert fill_piece is not None
    assert plan_pieces(param, (3000,), resolve(None, "1.55")) is None  # Box-Muller: whole
    assert plan_pieces(parse_filler('type: "orthogonal"'), (30, 100)) is None
    pieces = np.empty(3000, dtype=np.float32)
    rng = CaffeRNG(9)
    for start in range(0, 3000, 700):
        fill_piece(rng, pieces[start:start + 700])
    np.testing.assert_array_equal(pieces, whole)


@pytest.mark.parametrize(("filler", "expected"), [
    ('type: "trunc_normal" a: 1 b: 1', "a < b"),
    ('type: "trunc_normal" a: 6 b: 9', "widen the bounds"),
    ('type: "trunc_normal" std: 0', "std > 0"),
    ('type: "orthogonal" gain: inf', "finite"),
    ('type: "orthogonal" sparse: 3', "only works with the gaussian"),
])
def test_own_fillers_refuse_before_drawing(filler: str, expected: str) -> None:
    with pytest.raises(FillerError, match=expected):
        caffefill.fill(filler, (4, 4), seed=1)


def test_init_and_audit_know_the_own_fillers(tmp_path: Path) -> None:
    net = _net(tmp_path, 'type: "orthogonal" gain: 2 std: 0.1')
    weights = caffefill.init_net(net, seed=3)
    np.testing.assert_array_equal(weights["conv"][0],
                                  caffefill.fill('type: "orthogonal" gain: 2', (4, 3, 3, 3),
                                                 seed=3))
    report = audit_text(str(net), net.read_text(), AuditOptions())
    found = {f.code: f for f in report.findings}
    # Known to caffefill, but no Caffe can set the net up: said as CF103.
    assert found["CF103"].message.startswith('filler type "orthogonal" is caffefill\'s own')
    assert found["CF201"].message.startswith("std is ignored by the orthogonal filler")


def test_the_fans_field_is_the_legacy_accessor_refusal() -> None:
    # A spec's `fans` says it reads Caffe's 4-axis accessors: exactly those
    # fillers are refused on a 5-D blob under Caffe 1.0 for that reason (the
    # audit's CF305 derives its list from the field).
    from caffefill._proto import caffefill_pb2 as pb
    from caffefill.audit.rules.nd_fans_profile import FAN_TYPES
    from caffefill.fillers import SPECS

    refused = set()
    for name, spec in SPECS.items():
        try:
            spec.check(pb.FillerParameter(type=name), (2, 3, 2, 2, 2))
        except FillerError as exc:
            if "legacy num()/channels() accessors" in str(exc):
                refused.add(name)
    assert refused == {name for name, spec in SPECS.items() if spec.fans} == FAN_TYPES
    assert refused == {"xavier", "msra", "positive_unitball"}


@pytest.mark.parametrize("shape", [(37, 2000), (3, 70000), (20, 1, 4, 5)])
def test_positive_unitball_is_the_whole_draw_then_each_row_divided(
        shape: tuple[int, ...]) -> None:
    # The C fill draws and divides a group of rows at a time; the values and
    # the stream must be those of Caffe's order: every value drawn, then
    # each row divided by its float sum taken in index order.
    values = caffefill.fill('type: "positive_unitball"', shape, seed=23)
    rng = CaffeRNG(23)
    drawn = caffefill.fill('type: "uniform" min: 0 max: 1', shape, rng=rng)
    rows = drawn.reshape(shape[0], -1)
    sums = np.add.accumulate(rows, axis=1, dtype=np.float32)[:, -1:]
    np.testing.assert_array_equal(values.reshape(shape[0], -1).view(np.uint32),
                                  (rows / sums).view(np.uint32))
    after = CaffeRNG(23)
    caffefill.fill('type: "positive_unitball"', shape, rng=after)
    assert after.uint32(3).tolist() == rng.uint32(3).tolist()
