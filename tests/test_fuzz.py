"""Property-based fuzzing: hostile inputs meet only the project's errors, in bounded time.

Generators and oracles live in tests/fuzzing.py.  Each test runs a fixed,
derandomized set of examples (reproducible in CI); the environment variable
``CAFFEFILL_FUZZ_EXAMPLES`` (examples of the base tests; the heavier ones
run a share of it) makes a longer run, and tools/fuzz.py runs many more
without stopping at the first failure.  Each example has a deadline, and
:func:`fuzzing.time_bound` turns a hang into a failure instead of a stuck
test run (faulthandler, armed below, ends a hang inside C code).
"""

from __future__ import annotations

import faulthandler
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import fuzzing
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import caffefill
from caffefill._proto import caffefill_pb2 as pb
from caffefill.net.spec import DrawRuns, FillDraw, RandDraw

pytestmark = pytest.mark.slow  # fuzzing: run by default and in CI

EXAMPLES = int(os.environ.get("CAFFEFILL_FUZZ_EXAMPLES", "250"))
ROOT = Path(__file__).resolve().parents[1]


def fuzz_settings(share: float = 1.0, deadline_ms: int = 3000) -> settings:
    return settings(max_examples=max(1, int(EXAMPLES * share)), derandomize=True,
                    database=None, deadline=timedelta(milliseconds=deadline_ms),
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


@pytest.fixture(autouse=True)
def _hang_guard() -> Iterator[None]:
    """A hang inside C code cannot be interrupted: dump the stacks and end the run."""
    faulthandler.dump_traceback_later(600, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


PROFILES = st.sampled_from(fuzzing.PROFILES)
PHASES = st.sampled_from(["TEST", "TRAIN"])


# ------------------------------------------------------------------ reader, upgrade, model


@fuzz_settings()
@given(st.binary(max_size=2000), PHASES)
def test_random_bytes(data: bytes, phase: str) -> None:
    fuzzing.check_pipeline(data, phase=phase)


@fuzz_settings()
@given(st.text(st.one_of(st.characters(), st.integers(0xD800, 0xDFFF).map(chr)),
               max_size=300))
def test_random_text_even_with_surrogates(text: str) -> None:
    fuzzing.check_pipeline(text)


@fuzz_settings()
@given(fuzzing.token_soups(), PHASES)
def test_token_soups(text: str, phase: str) -> None:
    fuzzing.check_pipeline(text, phase=phase)


@fuzz_settings(1.2)
@given(fuzzing.mutated_prototxts(), PHASES, PROFILES)
def test_mutated_real_prototxts(text: str, phase: str, profile: Any) -> None:
    fuzzing.check_pipeline(text, phase=phase, profile=profile)


@fuzz_settings(1.2)
@given(fuzzing.structured_nets(), PHASES, PROFILES, fuzzing.data_inputs())
def test_structured_random_nets(text: str, phase: str, profile: Any,
                                inputs: dict[str, tuple[int, ...]]) -> None:
    fuzzing.check_pipeline(text, phase=phase, profile=profile, inputs=inputs)


@fuzz_settings(0.8)
@given(fuzzing.legacy_nets(), PHASES)
def test_legacy_v0_v1_nets(text: str, phase: str) -> None:
    fuzzing.check_pipeline(text, phase=phase)


@fuzz_settings(2.0)
@given(fuzzing.layer_cases())
def test_every_layer_type_with_random_params_and_inputs(
        case: tuple[pb.LayerParameter, list[tuple[int, ...]], dict[str, tuple[int, ...]]]
) -> None:
    param, bottoms, inputs = case
    fuzzing.check_layer_setup(param, bottoms, inputs=inputs)


# ------------------------------------------------------------------ fills


@fuzz_settings(1.5)
@given(fuzzing.fillers(), fuzzing.limited(fuzzing.fill_shapes()), PROFILES)
def test_fill_dispatch(filler: pb.FillerParameter, shape: tuple[int, ...], profile: Any) -> None:
    fuzzing.check_fill(filler, shape, profile)


@fuzz_settings(0.5)
@given(st.sampled_from(["constant", "gaussian", "uniform", "xavier", "msra"]),
       st.sampled_from(["min", "max", "mean", "std", "value"]),
       st.sampled_from(fuzzing.INTERESTING_FLOATS), st.sampled_from(fuzzing.INTERESTING_FLOATS),
       PROFILES)
def test_extreme_filler_values_never_hang(kind: str, name: str, a: float, b: float,
                                          profile: Any) -> None:
    filler = pb.FillerParameter(type=kind)
    setattr(filler, name, a)
    if kind == "uniform":
        filler.min, filler.max = min(a, b), max(a, b)
    fuzzing.check_fill(filler, (3, 5), profile)


@fuzz_settings(0.5)
@given(st.lists(st.tuples(st.lists(st.integers(0, 9), min_size=1, max_size=3),
                          st.integers(-1, 5)), max_size=5), st.data())
def test_draw_runs_behave_like_the_list_they_stand_for(runs: list[tuple[list[int], int]],
                                                       data: st.DataObject) -> None:
    def draw(k: int) -> FillDraw | RandDraw:
        return RandDraw(k) if k % 2 else FillDraw((k,), pb.FillerParameter(), None)

    patterns = [([draw(k) for k in pattern], times) for pattern, times in runs]
    seq = DrawRuns(patterns)
    expanded = [d for pattern, times in patterns for _ in range(max(times, 0)) for d in pattern]
    assert list(seq) == expanded and len(seq) == len(expanded)
    if expanded:
        i = data.draw(st.integers(-len(expanded), len(expanded) - 1))
        assert seq[i] is expanded[i]
    assert seq[1:-1:2] == expanded[1:-1:2]


# ------------------------------------------------------------------ the command line


@fuzz_settings(0.4, deadline_ms=20000)
@given(st.one_of(fuzzing.structured_nets(), fuzzing.mutated_prototxts(),
                 fuzzing.token_soups()).map(lambda t: t.encode("utf-8", "replace")))
def test_cli_show_upgrade_init(data: bytes) -> None:
    fuzzing.check_cli(data)


@fuzz_settings(0.4, deadline_ms=20000)
@given(fuzzing.numeric_mutations())
def test_audit_and_show_on_extreme_numbers(text: str) -> None:
    # Every numeric field of the test nets, set to values at and past the
    # schema's limits: no internal error and no failing audit rule.
    fuzzing.check_audit_and_show(text)


@pytest.mark.parametrize("field", ["beta: 3.4e38", "beta: -3.4e38", "k: -1 alpha: 1e-9",
                                   "alpha: 3.4e38 beta: 0.5", "k: 3.4e38 beta: 3.4e38"])
def test_lrn_with_extreme_parameters_is_audited(field: str) -> None:
    net = (LRN_NET.replace("local_size: 5", f"local_size: 5 {field}"))
    fuzzing.check_audit_and_show(net)


LRN_NET = """layer { name: "in" type: "Input" top: "x"
  input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }
layer { name: "c" type: "Convolution" bottom: "x" top: "y" convolution_param {
  num_output: 8 kernel_size: 3 weight_filler { type: "gaussian" std: 0.01 } } }
layer { name: "n" type: "LRN" bottom: "y" top: "z" lrn_param { local_size: 5 } }
layer { name: "c2" type: "Convolution" bottom: "z" top: "w" convolution_param {
  num_output: 8 kernel_size: 3 weight_filler { type: "gaussian" std: 0.01 } } }
"""


@fuzz_settings(0.6)
@given(st.one_of(fuzzing.token_soups(), fuzzing.fillers().map(str)),
       st.lists(st.sampled_from(["0", "1", "3", "-1", "x", "", "2147483647", " 4",
                                 "99999999999999999999"]), max_size=5).map(",".join))
def test_cli_fill(filler: str, shape: str) -> None:
    fuzzing.check_fill_cli(filler, shape)


@pytest.fixture(scope="module")
def weight_samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return fuzzing.weight_samples(tmp_path_factory.mktemp("weights"))


@pytest.mark.parametrize("fmt", ["npz", "caffemodel", "npy", "h5"])
def test_cli_diff_on_damaged_weights(fmt: str, weight_samples: dict[str, Path]) -> None:
    if fmt not in weight_samples:
        pytest.skip("h5py is not installed")
    good = weight_samples[fmt]
    files = sorted(p.name for p in good.iterdir()) if fmt == "npy" else [""]

    @fuzz_settings(0.2)
    @given(st.sampled_from(files).flatmap(lambda name: fuzzing.byte_mutations(
        (good / name if name else good).read_bytes()).map(lambda data: {name: data})))
    def run(corrupt: dict[str, bytes]) -> None:
        fuzzing.check_weights_file(fmt, good, corrupt)

    run()


# The folder holding the caffefill under test (installed or built in place).
PACKAGE_ROOT = Path(caffefill.__file__).resolve().parents[1]


def test_long_runs_have_a_tool() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "fuzz.py"), "--examples", "3",
                             "--seed", "1"], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(PACKAGE_ROOT)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "total:" in result.stdout and "0 distinct bug kind(s)" in result.stdout


def test_show_json_writes_null_for_numbers_that_are_not_finite(tmp_path: Path) -> None:
    import json

    net = tmp_path / "net.prototxt"
    net.write_text(LRN_NET.replace("std: 0.01", "std: 3.4028236e+38", 1), encoding="utf-8")
    status, out, _ = fuzzing.run_cli(["show", "--json", str(net)])
    assert status == 0
    blobs = json.loads(out, parse_constant=lambda name: pytest.fail(f"{name} in the output"))
    assert blobs["blobs"][0]["std"] is None
