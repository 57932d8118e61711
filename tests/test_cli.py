"""The command line: the README's main job, one-line errors, exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import caffefill
from caffefill.cli import main

ROOT = Path(__file__).resolve().parents[1]
LENET = ROOT / "examples" / "lenet.prototxt"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "caffefill.cli", *args], capture_output=True,
                          text=True, cwd=ROOT)


def test_init_lenet_matches_api(tmp_path: Path) -> None:
    out = tmp_path / "weights.npz"
    result = run("init", str(LENET), "-o", str(out), "--seed", "1701")
    assert result.returncode == 0, result.stderr
    assert "seed 1701" in result.stdout
    back = caffefill.load_weights(out)
    ref = caffefill.init_net(LENET, seed=1701)
    for name, blobs in ref.items():
        for got, want in zip(back.params[name], blobs, strict=False):
            np.testing.assert_array_equal(got, want)


def test_init_without_seed_records_the_chosen_one(tmp_path: Path) -> None:
    out = tmp_path / "w.npz"
    result = run("init", str(LENET), "-o", str(out))
    assert result.returncode == 0, result.stderr
    seed = caffefill.load_weights(out).meta["seed"]
    assert f"using seed {seed}" in result.stderr
    ref = caffefill.init_net(LENET, seed=seed)
    np.testing.assert_array_equal(caffefill.load_weights(out).params["conv1"][0],
                                  ref["conv1"][0])


def test_fill_command(tmp_path: Path) -> None:
    out = tmp_path / "w.npy"
    assert main(["fill", "--filler", 'type: "msra"', "--shape", "64,3,7,7", "--seed", "1701",
                 "-o", str(out)]) == 0
    np.testing.assert_array_equal(np.load(out),
                                  caffefill.fill('type: "msra"', (64, 3, 7, 7), seed=1701))
    out2 = tmp_path / "w2.npy"
    assert main(["fill", "--type", "gaussian", "--std", "0.01", "--shape", "5,5", "--seed", "3",
                 "-o", str(out2)]) == 0
    np.testing.assert_array_equal(np.load(out2),
                                  caffefill.fill('type: "gaussian" std: 0.01', (5, 5), seed=3))


def test_bad_filler_is_one_line_exit_2(tmp_path: Path) -> None:
    result = run("fill", "--filler", 'type: "Xavier"', "--shape", "4,4", "--seed", "1",
                 "-o", str(tmp_path / "x.npy"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert 'did you mean "xavier"' in result.stderr
    assert not (tmp_path / "x.npy").exists()


def test_bad_prototxt_names_file_line_and_layer(tmp_path: Path) -> None:
    bad = tmp_path / "bad.prototxt"
    bad.write_text('name: "n"\nlayer { name: "in" type: "Input" top: "data"\n'
                   '  input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }\n'
                   'layer { name: "conv" type: "Convolution" bottom: "data" top: "c"\n'
                   '  convolution_param { num_output: 4 kernel_size: 3\n'
                   '    weight_filler { type: "uniform" min: 1 max: 0 } } }\n')
    out = tmp_path / "w.npz"
    result = run("init", str(bad), "-o", str(out), "--seed", "1")
    assert result.returncode == 2
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line
    assert f"{bad}:4" in line and "conv" in line and "swap them" in line
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["bad.prototxt"]


def test_missing_file_exit_2(tmp_path: Path) -> None:
    result = run("init", str(tmp_path / "none.prototxt"), "-o", str(tmp_path / "w.npz"))
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_show_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", str(LENET)]) == 0
    text = capsys.readouterr().out
    assert "conv1" in text and "20x1x5x5" in text and "431,080 values" in text
    assert main(["show", str(LENET), "--json"]) == 0
    import json

    doc = json.loads(capsys.readouterr().out)
    assert doc["total_values"] == 431080
    conv1 = doc["blobs"][0]
    assert conv1["fan_in"] == 25 and conv1["fan_out"] == 500


def test_diff_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b, c = tmp_path / "a.npz", tmp_path / "b.caffemodel", tmp_path / "c.npz"
    for path, seed in ((a, 1), (b, 1), (c, 2)):
        assert main(["init", str(LENET), "-o", str(path), "--seed", str(seed), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["diff", str(a), str(b)]) == 0
    assert "identical: 8/8" in capsys.readouterr().out
    assert main(["diff", str(a), str(c)]) == 1
    out = capsys.readouterr().out
    assert "DIFFERENT" in out and "first at index" in out


def test_memory_cap(tmp_path: Path) -> None:
    result = run("init", str(LENET), "-o", str(tmp_path / "w.npz"), "--max-memory", "1M")
    assert result.returncode == 2 and "--max-memory" in result.stderr


def test_upgrade_command_writes_caffes_upgrade(tmp_path: Path) -> None:
    from caffefill._proto import caffefill_pb2 as pb
    from caffefill.net.reader import read_net

    data = ROOT / "tests" / "data" / "upgrade"
    out = tmp_path / "v2.prototxt"
    assert main(["upgrade", str(data / "legacy_v1.prototxt"), "-o", str(out)]) == 0
    ours = read_net(out).param
    caffes = read_net(data / "legacy_v1.upgraded.prototxt").param
    assert isinstance(ours, pb.NetParameter) and ours == caffes
    # Refuses to overwrite without --force.
    assert main(["upgrade", str(data / "legacy_v1.prototxt"), "-o", str(out)]) == 2


def test_custom_layer_type_through_the_public_registry(tmp_path: Path) -> None:
    from caffefill.net.registry import LayerSetup, register
    from caffefill.net.spec import BlobSpec

    net = tmp_path / "custom.prototxt"
    net.write_text(
        'layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 2 dim: 5 } } }\n'
        'layer { name: "mine" type: "MyGain" bottom: "x" top: "y" }\n')
    with pytest.raises(caffefill.CaffefillError, match="MyGain"):
        caffefill.init_net(net, seed=1)

    @register("MyGain")
    def my_gain(ctx):  # type: ignore[no-untyped-def]
        (shape,) = ctx.bottoms
        gain = caffefill.fillers.parse_filler('type: "uniform" min: 0.5 max: 1.5')
        return LayerSetup(tops=[shape], blobs=[BlobSpec((shape[1],), gain, "gain")])

    try:
        result = caffefill.init_net(net, seed=1)
        np.testing.assert_array_equal(
            result["mine"][0], caffefill.fill('type: "uniform" min: 0.5 max: 1.5', (5,), seed=1))
    finally:
        from caffefill.net.registry import REGISTRY

        del REGISTRY["MyGain"]


def test_make_reference_without_pycaffe_exits_2(tmp_path: Path) -> None:
    probe = subprocess.run([sys.executable, "-c", "import caffe"], capture_output=True)
    if probe.returncode == 0:
        pytest.skip("pycaffe is importable here")
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "make_reference.py"),
                             str(LENET), "--seed", "1", "-o", str(tmp_path / "ref")],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "pycaffe" in result.stderr


def test_python_dash_m_caffefill_runs_the_cli() -> None:
    result = subprocess.run([sys.executable, "-m", "caffefill", "--version"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"caffefill {caffefill.__version__}"


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_before_or_after_the_command_shows_the_traceback(
        tmp_path: Path, where: str) -> None:
    net = tmp_path / "bad.prototxt"
    net.write_text(LENET.read_text().replace('type: "xavier"', 'type: "nosuch"', 1))
    command = ["init", str(net), "-o", str(tmp_path / "w.npz"), "--seed", "1"]
    result = run(*(["--debug", *command] if where == "before" else [*command, "--debug"]))
    assert result.returncode != 0
    assert "Traceback" in result.stderr
    plain = run(*command)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr


def test_the_audit_does_not_import_the_cli() -> None:
    code = ("import sys, caffefill.audit.engine, caffefill.audit.context; "
            "print(any(m.startswith('caffefill.cli') for m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


def test_a_command_named_first_loads_no_other_command() -> None:
    """`caffefill audit ...` builds its parser without importing the other
    commands' modules (start-up time)."""
    net = ROOT / "tests" / "data" / "audit" / "clean.prototxt"
    code = ("import sys; from caffefill.cli import main; "
            f"main(['audit', '--quiet', {str(net)!r}]); "
            "print(sorted(m for m in sys.modules if m.startswith('caffefill.cli.')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    loaded = result.stdout.strip().splitlines()[-1]
    assert loaded == "['caffefill.cli.app', 'caffefill.cli.audit', 'caffefill.cli.options']", \
        result.stdout + result.stderr


def test_the_audit_command_loads_no_engine_it_does_not_run() -> None:
    """`caffefill audit` on a net with tanh layers (the signal model's numeric
    path) imports neither the init engine, torch, numpy.ma nor statistics: start-up time."""
    net = ROOT / "tests" / "data" / "forward" / "nets" / "deep_tanh_gauss001.prototxt"
    code = ("import sys; from caffefill.cli import main; "
            f"main(['audit', '--exit-zero', '--quiet', {str(net)!r}]); "
            "print(sorted(m for m in ('caffefill.init', 'caffefill.drawing', 'torch', "
            "'numpy.ma', 'matplotlib', 'h5py', 'statistics') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout + result.stderr


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["fill", "--help"]])
def test_the_parser_alone_loads_neither_numpy_nor_the_engine(argv: list[str]) -> None:
    """Building the whole parser (each command's defaults included) imports
    neither numpy nor the C core: `caffefill --version` answers at once."""
    code = ("import sys; from caffefill.cli import main\n"
            "try:\n"
            f"    main({argv!r})\n"
            "except SystemExit:\n"
            "    pass\n"
            "print(sorted(m for m in ('numpy', 'caffefill._core', 'torch') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout + result.stderr


@pytest.mark.parametrize("preset", [None, "20"])
@pytest.mark.parametrize("as_program", [True, False])
def test_the_program_lets_numpys_blas_threads_sleep(tmp_path: Path, preset: str | None,
                                                    as_program: bool) -> None:
    # Run as the program, numpy's OpenBLAS workers are told to sleep at once
    # instead of spinning for a core's worth of time after numpy's import; a
    # value in the user's environment is kept, and a run called from Python
    # (with arguments) leaves the environment alone.
    argv = ["init", str(LENET), "-o", str(tmp_path / "w.npz"), "--quiet"]
    call = (f"sys.argv = {['caffefill', *argv]!r}; main()" if as_program
            else f"main({argv!r})")
    code = ("import os, sys\n"
            "from caffefill.cli import main\n"
            f"{call}\n"
            "print(os.environ.get('OPENBLAS_THREAD_TIMEOUT'), 'numpy' in sys.modules)\n")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    if preset is not None:
        env["OPENBLAS_THREAD_TIMEOUT"] = preset
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env)
    assert result.returncode == 0, result.stderr
    expected = preset if preset is not None else ("4" if as_program else None)
    assert result.stdout.strip().splitlines()[-1] == f"{expected} True"


def test_the_program_keeps_its_objects_to_the_end(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # Run as the program (no argv given: it exits next), what is left is
    # frozen, so the collector does not traverse it at shutdown; called with
    # arguments (from Python), nothing is.
    import gc

    frozen: list[bool] = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(True))
    out = tmp_path / "w.npz"
    monkeypatch.setattr(sys, "argv", ["caffefill", "init", str(LENET), "-o", str(out),
                                      "--seed", "3", "--quiet"])
    assert main() == 0 and frozen == [True]
    assert main(["init", str(LENET), "-o", str(out), "--seed", "3", "--quiet", "--force"]) == 0
    assert frozen == [True] and out.exists()
