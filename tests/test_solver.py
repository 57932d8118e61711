"""``init --solver``: the net ``caffe train --solver`` builds, with the solver's
random_seed and train_state, written byte for byte as ``--phase TRAIN --seed N``
writes it; a solver (or any other non-net) given as NET is refused."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import DATA, SHARED

import caffefill
from caffefill.cli import main
from caffefill.errors import CaffefillError
from caffefill.solver import read_solver

SOLVERS = DATA / "solvers"
MNIST = "profiles/caffe-rc3/examples__mnist__lenet_train_test.prototxt"
CIFAR = "profiles/caffe-rc3/examples__cifar10__cifar10_quick_train_test.prototxt"
ALEXNET = "profiles/caffe-rc3/models__bvlc_alexnet__train_val.prototxt"


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _same_output(tmp_path: Path, solver_args: list[str], net_args: list[str],
                 ext: str) -> None:
    a, b = tmp_path / f"solver.{ext}", tmp_path / f"net.{ext}"
    assert main(["init", *solver_args, "-o", str(a), "--quiet"]) == 0
    assert main(["init", *net_args, "-o", str(b), "--quiet"]) == 0
    if ext == "npz":  # the members' bytes: the ZIP headers carry the time of writing
        assert _members(a) == _members(b)
    else:
        assert a.read_bytes() == b.read_bytes()


@pytest.mark.parametrize(("solver", "net", "seed", "inputs", "ext"), [
    ("lenet_solver.prototxt", MNIST, 1701, ["--input", "data=1,28,28"], "caffemodel"),
    ("lenet_solver.prototxt", MNIST, 1701, ["--input", "data=1,28,28"], "npz"),
    ("cifar10_quick_solver.prototxt", CIFAR, 3, ["--input", "data=3,32,32"], "npz"),
    ("alexnet_solver.prototxt", ALEXNET, 1, ["--input", "data=3,256,256"], "caffemodel"),
], ids=lambda v: str(v))
def test_solver_writes_what_phase_train_and_its_seed_write(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, solver: str, net: str, seed: int,
        inputs: list[str], ext: str) -> None:
    monkeypatch.chdir(DATA)  # the solvers name their nets as Caffe opens them: from here
    _same_output(tmp_path, ["--solver", f"solvers/{solver}", *inputs],
                 [net, "--phase", "TRAIN", "--seed", str(seed), *inputs], ext)


def test_rc3_profile_with_a_solver_matches_caffe(monkeypatch: pytest.MonkeyPatch) -> None:
    # The rc3 reference record of lenet TRAIN 1701 is what this solver trains from.
    from conftest import load_jsonl, sha256_f32

    monkeypatch.chdir(DATA)
    record = next(c for c in load_jsonl(DATA / "profiles" / "caffe-rc3" / "nets.jsonl")
                  if c["id"] == "lenet_train_test.TRAIN.1701")
    result = caffefill.init_net(solver="solvers/lenet_solver.prototxt", caffe="rc3",
                                inputs={"data": (1, 28, 28)})
    assert result.seed == 1701 and result.phase == "TRAIN"
    for layer in record["layers"]:
        for got, want in zip(result[layer["name"]], layer["blobs"], strict=False):
            assert sha256_f32(got) == want["sha256"]


def test_inline_net_param_and_train_state(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(SOLVERS)
    built = read_solver("inline_solver.prototxt")
    assert (built.seed, built.phase, built.stages, built.level) == (42, "TRAIN", ("wide",), 2)
    result = caffefill.init_net(solver="inline_solver.prototxt")
    assert list(result) == ["conv", "wide"]  # the stage and level chose "wide"
    ref = caffefill.init_net("inline_net.prototxt", phase="TRAIN", seed=42, stages=["wide"],
                             level=2)
    assert list(ref) == list(result)
    for name in ref:
        for x, y in zip(ref[name], result[name], strict=False):
            np.testing.assert_array_equal(x, y)
    # --stage adds to train_state's stages, --level replaces its level (caffe train's flags)
    assert list(caffefill.init_net(solver="inline_solver.prototxt", level=0)) == \
        ["conv", "narrow"]


def test_errors_in_an_inline_net_point_into_the_solver(tmp_path: Path) -> None:
    solver = tmp_path / "s.prototxt"
    solver.write_text((SOLVERS / "inline_solver.prototxt").read_text()
                      .replace('type: "xavier"', 'type: "xavierr"'))
    with pytest.raises(CaffefillError) as info:
        caffefill.init_net(solver=solver)
    text = str(info.value)
    assert text.startswith(f"{solver}:11:3:") and "layer 'conv'" in text, text


def test_solver_without_random_seed_gets_a_recorded_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(DATA)
    out = tmp_path / "w.npz"
    assert main(["init", "--solver", "solvers/unseeded_solver.prototxt", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "no random_seed" in err and "from the clock" in err
    seed = caffefill.load_weights(out).meta["seed"]
    assert f"using seed {seed}" in err
    assert caffefill.load_weights(out).meta["phase"] == "TRAIN"


@pytest.mark.parametrize(("text", "message"), [
    ("base_lr: 0.1\n", "names no train net"),
    ('net: "a.prototxt"\ntrain_net: "b.prototxt"\nrandom_seed: 1\n', "more than one"),
    ('net: "nowhere.prototxt"\n', "does not exist"),
])
def test_bad_solvers_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str], text: str,
                            message: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.prototxt").write_text(text)
    assert main(["init", "--solver", "s.prototxt", "-o", "w.npz"]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "w.npz").exists()


def test_net_file_beside_the_solver_gets_a_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # Caffe would open net.prototxt from here: not found
    (tmp_path / "net.prototxt").write_text((SOLVERS / "inline_net.prototxt").read_text())
    (tmp_path / "s.prototxt").write_text('net: "net.prototxt"\nrandom_seed: 1\n')
    assert main(["init", "--solver", str(tmp_path / "s.prototxt"), "-o",
                 str(tmp_path / "w.npz")]) == 2
    assert "run from" in capsys.readouterr().err


def test_solver_and_phase_or_a_net_conflict(capsys: pytest.CaptureFixture[str]) -> None:
    solver = str(SOLVERS / "inline_solver.prototxt")
    assert main(["init", "--solver", solver, "--phase", "TEST", "-o", "x.npz"]) == 2
    assert main(["init", "a.prototxt", "--solver", solver, "-o", "x.npz"]) == 2
    assert main(["init", "-o", "x.npz"]) == 2
    assert not Path("x.npz").exists()


def test_show_solver(capsys: pytest.CaptureFixture[str],
                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(SOLVERS)
    assert main(["show", "--solver", "inline_solver.prototxt"]) == 0
    out = capsys.readouterr().out
    assert "wide" in out and "narrow" not in out


# ------------------------------------------------------------ not a net


@pytest.mark.parametrize("command", ["init", "show", "audit"])
def test_a_solver_given_as_net_is_refused(tmp_path: Path, command: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    args = [command, str(SOLVERS / "lenet_solver.prototxt")]
    if command == "init":
        args += ["-o", str(tmp_path / "w.npz")]
    assert main(args) == 2
    err = capsys.readouterr().err
    if command == "audit":  # audited as a solver: its net is opened as Caffe opens it
        assert "the solver's net 'profiles/caffe-rc3/" in err and "does not exist" in err
    else:
        assert "this is a solver" in err and "--solver" in err
    assert not (tmp_path / "w.npz").exists()


@pytest.mark.parametrize("text", ['type: "xavier"\nstd: 0.1\n', 'name: "empty"\n', ""])
def test_a_file_without_layers_is_refused(tmp_path: Path, text: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    net = tmp_path / "n.prototxt"
    net.write_text(text)
    assert main(["init", str(net), "-o", str(tmp_path / "w.npz")]) == 2
    assert "this is not a net" in capsys.readouterr().err


# ------------------------------------------------------------ corpus nets

CORPUS = SHARED / "corpus"
needs_shared = pytest.mark.skipif(not CORPUS.exists(), reason="../shared is absent")


@needs_shared
@pytest.mark.parametrize(("solver", "net", "seed", "inputs"), [
    ("corpus_siamese_solver.prototxt",
     "BVLC__caffe/examples__siamese__mnist_siamese_train_test.prototxt", 7,
     ["--input", "pair_data=2,28,28"]),
    ("corpus_googlenet_solver.prototxt",
     "BVLC__caffe/models__bvlc_googlenet__train_val.prototxt", 1701,
     ["--input", "data=3,256,256"]),
], ids=lambda v: str(v))
def test_corpus_solvers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, solver: str,
                        net: str, seed: int, inputs: list[str]) -> None:
    monkeypatch.chdir(CORPUS)
    _same_output(tmp_path, ["--solver", os.fspath(SOLVERS / solver), *inputs],
                 [net, "--phase", "TRAIN", "--seed", str(seed), *inputs], "caffemodel")


BAD_NET = """
layer { name: "data" type: "Input" top: "data" input_param {shape {dim: 1 dim: 3 dim: 8 dim: 8 }}}
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
  convolution_param { num_output: 4 kernel_size: 3 weight_filler { type: "Xavier" } } }
"""


def _solver_folder(tmp_path: Path, solver: str) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "solver.prototxt").write_text(solver)
    (folder / "net.prototxt").write_text(BAD_NET)
    (folder / "test.prototxt").write_text(BAD_NET.replace('"conv"', '"tconv"'))
    return folder


def test_audit_follows_a_folders_solver_to_each_net_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # The nets are named from the working directory, as Caffe opens them; the
    # walk finds net.prototxt itself, so it is audited once.
    _solver_folder(tmp_path, 'net: "model/net.prototxt"\ntest_net: "model/test.prototxt"\n'
                             'test_net: "model/../model/net.prototxt"\nbase_lr: 0.1\n')
    monkeypatch.chdir(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    (other / "test.prototxt").write_text(BAD_NET.replace('"conv"', '"oconv"'))
    (tmp_path / "model" / "test.prototxt").rename(other / "t.prototxt")
    (tmp_path / "model" / "solver.prototxt").write_text(
        'net: "model/net.prototxt"\ntest_net: "other/t.prototxt"\n'
        'test_net: "model/../model/net.prototxt"\nbase_lr: 0.1\n')
    assert main(["audit", "model"]) == 1
    out = capsys.readouterr().out
    assert out.count("[conv] unknown filler type") == 1
    assert out.count("[tconv] unknown filler type") == 1  # only through the solver
    assert "oconv" not in out
    assert "model/solver.prototxt: note: a solver, not a net: its nets are audited (net " \
        "'model/net.prototxt', test_net[0] 'other/t.prototxt')" in out


def test_a_folders_solver_whose_nets_are_not_found_is_a_note(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _solver_folder(tmp_path, 'train_net: "elsewhere/net.prototxt"\n')
    assert main(["audit", str(folder)]) == 1  # net.prototxt and test.prototxt themselves
    captured = capsys.readouterr()
    assert "elsewhere/net.prototxt not found from" in captured.out
    assert captured.err == ""


def test_a_solver_given_directly_is_reported_and_its_nets_audited(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    folder = _solver_folder(tmp_path, 'net: "net.prototxt"\n')
    monkeypatch.chdir(folder)
    assert main(["audit", "solver.prototxt"]) == 1
    out = capsys.readouterr().out
    assert "solver.prototxt: note: a solver, not a net" in out
    assert "net.prototxt:4:52: CF103 error [conv]" in out
    monkeypatch.chdir(tmp_path)  # now net.prototxt is not where Caffe would open it
    assert main(["audit", "model/solver.prototxt"]) == 2
    err = capsys.readouterr().err
    assert "the solver's net 'net.prototxt' does not exist" in err
    assert "it is in the solver's folder" in err


def test_a_solvers_inline_nets_are_audited_in_the_solver(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    net = BAD_NET.strip()
    test = net.replace('"conv"', '"tconv"')
    solver = tmp_path / "solver.prototxt"
    solver.write_text(f"base_lr: 0.1\nnet_param {{\n{net}\n}}\ntest_net_param {{\n{test}\n}}\n")
    assert main(["audit", str(solver)]) == 1
    out = capsys.readouterr().out
    assert f"{solver}:5:52: CF103 error [conv]" in out
    assert f"{solver}:10:52: CF103 error [tconv]" in out


def test_audit_of_a_missing_path_is_only_an_error(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", str(tmp_path / "nowhere.prototxt")]) == 2
    captured = capsys.readouterr()
    assert "no such file" in captured.err
    assert captured.out == ""


def test_readme_first_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = DATA.parents[1]
    monkeypatch.chdir(root)
    _same_output(tmp_path, ["--solver", "examples/lenet_solver.prototxt"],
                 ["examples/lenet.prototxt", "--seed", "1701"], "caffemodel")
    readme = (root / "README.md").read_text()
    assert "caffefill init --solver examples/lenet_solver.prototxt" in \
        readme.split("```sh", 1)[1].split("```", 1)[0]


@pytest.mark.parametrize("command", ["init", "show", "audit"])
def test_train_is_every_commands_default_phase(command: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    assert "default TRAIN" in " ".join(capsys.readouterr().out.split())


def test_init_defaults_to_train(tmp_path: Path) -> None:
    out = tmp_path / "w.npz"
    assert main(["init", str(SOLVERS / "inline_net.prototxt"), "-o", str(out), "--seed",
                 "1", "--quiet"]) == 0
    assert caffefill.load_weights(out).meta["phase"] == "TRAIN"
    assert caffefill.init_net(SOLVERS / "inline_net.prototxt", seed=1).phase == "TRAIN"


def test_a_solver_that_never_ends_is_read_bounded(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """/dev/zero as the solver: refused after the prototxt limit, not read until
    memory runs out."""
    with pytest.raises(CaffefillError, match="larger than"):
        read_solver("/dev/zero")
    assert main(["init", "--solver", "/dev/zero", "-o", str(tmp_path / "w.npz")]) == 2
    assert "larger than" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
