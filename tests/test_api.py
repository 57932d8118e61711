"""The public API as users and type checkers see it."""

from __future__ import annotations

import copy
import inspect
import os
import pickle
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import caffefill
from caffefill import CaffeRNG, Weights

NETS = Path(__file__).parent / "data" / "nets"
LENET = NETS / "lenet_input.prototxt"


def _pickled(rng: CaffeRNG) -> CaffeRNG:
    twin = pickle.loads(pickle.dumps(rng))
    assert isinstance(twin, CaffeRNG)
    return twin


@pytest.mark.parametrize("make", [_pickled, copy.copy, copy.deepcopy, CaffeRNG.copy])
def test_rng_copies_keep_the_stream_position(make: Callable[[CaffeRNG], CaffeRNG]) -> None:
    rng = CaffeRNG(1701)
    caffefill.fill('type: "gaussian"', (1001,), rng=rng)  # a position inside the state block
    twin = make(rng)
    assert isinstance(twin, CaffeRNG) and twin.seed == 1701
    np.testing.assert_array_equal(caffefill.fill('type: "gaussian"', (700,), rng=twin),
                                  caffefill.fill('type: "gaussian"', (700,), rng=rng))
    assert twin.rand() == rng.rand()


def test_rng_does_not_expose_the_kernel() -> None:
    public = {name for name in dir(CaffeRNG(1)) if not name.startswith("_")}
    assert public == {"seed", "rand", "uint32", "discard", "copy"}


def test_options_are_keyword_only() -> None:
    for function, positional in ((caffefill.fill, ["filler", "shape"]),
                                 (caffefill.init_net, ["path", "phase"]),
                                 (caffefill.load_weights, ["path"])):
        parameters = inspect.signature(function).parameters.values()
        assert [p.name for p in parameters if p.kind is not p.KEYWORD_ONLY] == positional
    with pytest.raises(TypeError):
        caffefill.fill('type: "gaussian"', (3,), 1701)  # type: ignore[call-arg]


def test_phases_as_pycaffe_spells_them() -> None:
    assert caffefill.init_net(LENET, caffefill.TRAIN, seed=1).meta["phase"] == "TRAIN"
    assert caffefill.init_net(LENET, caffefill.TEST, seed=1).meta["phase"] == "TEST"


def test_init_net_and_load_weights_return_one_type(tmp_path: Path) -> None:
    from caffefill.init import prepare_net
    from caffefill.writers import write_weights

    drawn = caffefill.init_net(LENET, seed=1701)
    assert isinstance(drawn, Weights) and drawn.seed == 1701 and drawn.model is not None
    prepared = prepare_net(LENET, seed=1701)
    out = tmp_path / "w.npz"
    write_weights(out, prepared.blobs(lazy=True), prepared.meta(), prepared.model)
    back = caffefill.load_weights(out)
    assert type(back) is type(drawn)
    assert back.meta == drawn.meta and back.seed == 1701 and back.model is None
    assert list(back) == list(drawn)
    for name, blobs in drawn.items():
        for got, want in zip(back[name], blobs, strict=False):
            assert got.dtype == np.float32
            np.testing.assert_array_equal(got, want)
    assert back.params is back  # pycaffe's net.params spelling
    again = pickle.loads(pickle.dumps(back))
    assert again.meta == back.meta and list(again) == list(back)


USER_FILE = '''
    from __future__ import annotations

    import numpy as np
    import numpy.typing as npt

    import caffefill


    def first_weight(prototxt: str) -> npt.NDArray[np.float32]:
        params = caffefill.init_net(prototxt, caffefill.TEST, seed=1701, stages=["deploy"])
        seed: int | None = params.seed
        print(seed, params.meta["phase"])
        weight: npt.NDArray[np.float32] = params["conv1"][0]
        return weight


    def reload(path: str) -> int:
        weights: caffefill.Weights = caffefill.load_weights(path, max_bytes=2**30)
        mapped: caffefill.Weights = caffefill.load_weights(path, lazy=True)
        first: npt.NDArray[np.float32] = mapped["conv1"][0]
        print(first.shape)
        return sum(len(blobs) for blobs in weights.values())


    def one_blob() -> float:
        rng = caffefill.CaffeRNG(1701)
        a = caffefill.fill('type: "msra"', (64, 3, 7, 7), rng=rng, caffe="1.0", boost="1.74")
        return float(a.std())
'''


def test_user_code_passes_mypy_strict(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    user = tmp_path / "user.py"
    user.write_text(textwrap.dedent(USER_FILE))
    # caffefill as the user has it installed (its py.typed, found on sys.path).
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir",
         str(tmp_path / "cache"), str(user)],
        capture_output=True, text=True, cwd=tmp_path, timeout=600,
        env={"PATH": os.environ.get("PATH", "")},
    )
    assert run.returncode == 0, run.stdout + run.stderr
