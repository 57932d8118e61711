"""What an output may replace, and what stays when a run fails, races or is killed.

The promises of the README's "Errors and exit codes" section for outputs:
--force replaces a regular file or a folder caffefill wrote and nothing
else; without it an output is put in place only if the target is still
absent; symbolic links, devices and pipes are never replaced; names are
one-to-one; a killed run leaves at most one temporary, which the next run
removes; every numeric option refuses junk.
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import caffefill
from caffefill.cli import main
from caffefill.errors import WriteError
from caffefill.init import prepare_net
from caffefill.writers import load_weights, write_weights

SRC = Path(caffefill.__file__).resolve().parents[1]
NET = ('layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 1 dim: 8 } } }\n'
       'layer { name: "ip" type: "InnerProduct" bottom: "x" top: "y" '
       'inner_product_param { num_output: 4 weight_filler { type: "gaussian" std: 0.1 } } }\n')
BIG = "\n".join(
    ['layer { name: "in" type: "Input" top: "x0" input_param { shape { dim: 1 dim: 2048 } } }'] +
    [f'layer {{ name: "ip{i}" type: "InnerProduct" bottom: "x{i}" top: "x{i + 1}" '
     f'inner_product_param {{ num_output: 2048 weight_filler {{ type: "gaussian" std: 0.01 }} '
     f'}} }}' for i in range(10)]) + "\n"
LEFTOVER = re.compile(r"\..+\.caffefill-\d+-[a-z0-9_]+\.(tmp|old)")


def net(tmp_path: Path, text: str = NET) -> Path:
    path = tmp_path / "net.prototxt"
    path.write_text(text, encoding="utf-8")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    status = main(list(argv))
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" not in err, err
    return status, err


def refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run, expect exit 2 with a single error line; return it."""
    status, err = run(capsys, *argv)
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and lines[0].startswith("caffefill: error:"), err
    return lines[0]


def tree(folder: Path) -> dict[str, bytes | None]:
    """Every entry under ``folder`` with its bytes (None for a folder or a link)."""
    out: dict[str, bytes | None] = {}
    for path in sorted(folder.rglob("*")):
        out[str(path.relative_to(folder))] = path.read_bytes() \
            if path.is_file() and not path.is_symlink() else None
    return out


def subprocess_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(SRC)}


# ------------------------------------------------------------------ what --force may replace


def test_force_refuses_the_users_folder(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    project = tmp_path / "project"
    project.mkdir()
    prototxt = net(project)
    (project / "thesis.tex").write_text("years of work")
    before = tree(project)
    line = refused(capsys, "init", str(prototxt), "-o", str(project), "--seed", "1", "--force")
    assert "caffefill wrote" in line
    assert tree(project) == before
    for output in (".", "./", str(project) + "/."):
        os.chdir(project)
        refused(capsys, "init", str(prototxt), "-o", output, "--format", "npy", "--seed", "1",
                "--force")
        assert tree(project) == before


def test_force_never_replaces_the_input_net(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    prototxt = net(tmp_path)
    for output in (str(prototxt), f"{tmp_path}/./net.prototxt"):
        line = refused(capsys, "init", str(prototxt), "-o", output, "--format", "npz",
                       "--seed", "1", "--force")
        assert "input" in line
    assert prototxt.read_text() == NET


def test_force_refuses_a_folder_for_a_file_format(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "w.npz"
    folder.mkdir()
    (folder / "data").write_text("keep")
    line = refused(capsys, "init", str(net(tmp_path)), "-o", str(folder), "--seed", "1",
                   "--force")
    assert "is a folder" in line and (folder / "data").read_text() == "keep"


def test_force_replaces_caffefills_own_folder(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    prototxt = net(tmp_path)
    out = tmp_path / "w_npy"
    assert run(capsys, "init", str(prototxt), "-o", f"{out}/", "--seed", "1")[0] == 0
    first = load_weights(out).params["ip"][0].copy()
    assert run(capsys, "init", str(prototxt), "-o", f"{out}/", "--seed", "2", "--force")[0] == 0
    assert load_weights(out).meta["seed"] == 2
    assert not (load_weights(out).params["ip"][0] == first).all()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.prototxt", "w_npy"]
    # One file more than caffefill wrote: no longer its own folder.
    (out / "notes.txt").write_text("mine")
    line = refused(capsys, "init", str(prototxt), "-o", f"{out}/", "--seed", "3", "--force")
    assert "notes.txt" in line and (out / "notes.txt").read_text() == "mine"


def test_siblings_with_old_style_backup_names_are_kept(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prototxt = net(tmp_path)
    out = tmp_path / "w_npy"
    assert run(capsys, "init", str(prototxt), "-o", f"{out}/", "--seed", "1")[0] == 0
    sibling = tmp_path / ".w_npy.old"
    sibling.mkdir()
    (sibling / "precious").write_text("not caffefill's")
    assert run(capsys, "init", str(prototxt), "-o", f"{out}/", "--seed", "2", "--force")[0] == 0
    assert (sibling / "precious").read_text() == "not caffefill's"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".w_npy.old", "net.prototxt", "w_npy"]


@pytest.mark.parametrize("exchange", [True, False])
def test_force_over_a_file_and_a_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        exchange: bool) -> None:
    from caffefill.writers import atomic

    if not exchange:  # a file system without renameat2's flags: the fallbacks
        monkeypatch.setattr(atomic, "_rename2", lambda *args: False)
    prepared = prepare_net(net(tmp_path), seed=1)
    for target in ("w.npz", "w_npy/", "w.caffemodel"):
        for seed in (1, 2):
            prepared = prepare_net(net(tmp_path), seed=seed)
            write_weights(f"{tmp_path}/{target}", prepared.blobs(), prepared.meta(),
                          prepared.model, force=True)
            assert load_weights(tmp_path / target.rstrip("/")).meta["seed"] == seed
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "net.prototxt", "w.caffemodel", "w.npz", "w_npy"]


# ------------------------------------------------------------------ races


def _appearing(prepared: Any, make: Any) -> Iterator[Any]:
    """The blobs, with ``make()`` called halfway (another process creating the target)."""
    for i, blob in enumerate(prepared.blobs()):
        if i == 1:
            make()
        yield blob


@pytest.mark.parametrize("exchange", [True, False])
@pytest.mark.parametrize("target", ["w.npz", "w_npy/", "w.h5"])
def test_output_appearing_during_the_run_is_kept(tmp_path: Path, target: str,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 exchange: bool) -> None:
    if target == "w.h5":
        pytest.importorskip("h5py")
    from caffefill.writers import atomic

    if not exchange:
        monkeypatch.setattr(atomic, "_rename2", lambda *args: False)
    prepared = prepare_net(net(tmp_path), seed=1)
    path = tmp_path / target.rstrip("/")

    def someone_elses() -> None:
        if target.endswith("/"):
            path.mkdir()
            (path / "theirs").write_text("theirs")
        else:
            path.write_text("theirs")

    with pytest.raises(WriteError, match="appeared while this run was writing"):
        write_weights(f"{tmp_path}/{target}", _appearing(prepared, someone_elses),
                      prepared.meta(), prepared.model)
    kept = path / "theirs" if target.endswith("/") else path
    assert kept.read_text() == "theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.prototxt", path.name]


def test_two_runs_to_one_output_one_wins(tmp_path: Path) -> None:
    prototxt = net(tmp_path, BIG.replace("2048", "1024"))
    for target in ("w.npz", "w_npy/"):
        procs = [subprocess.Popen(
            [sys.executable, "-m", "caffefill", "init", str(prototxt), "-o",
             f"{tmp_path}/{target}", "--seed", str(seed), "--quiet"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=subprocess_env())
            for seed in (1, 2)]
        results = [(p.wait(timeout=120), p.communicate()[1]) for p in procs]
        assert sorted(status for status, _ in results) == [0, 2], results
        loser = next(err for status, err in results if status == 2)
        assert len(loser.strip().splitlines()) == 1 and "Traceback" not in loser
        winner = [1, 2][[status for status, _ in results].index(0)]
        assert load_weights(tmp_path / target.rstrip("/")).meta["seed"] == winner
    assert not [p.name for p in tmp_path.iterdir() if LEFTOVER.fullmatch(p.name)]


# ------------------------------------------------------------------ outputs that are not files


def test_symlinks_are_never_replaced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prototxt = net(tmp_path)
    real = tmp_path / "real.npz"
    real.write_bytes(b"real")
    link = tmp_path / "link.npz"
    link.symlink_to(real)
    dangling = tmp_path / "dangling.npz"
    dangling.symlink_to(tmp_path / "nowhere.npz")
    for target in (link, dangling):
        for force in ([], ["--force"]):
            line = refused(capsys, "init", str(prototxt), "-o", str(target), "--seed", "1",
                           *force)
            assert "symbolic link" in line
    assert real.read_bytes() == b"real" and os.readlink(link) == str(real)
    assert os.readlink(dangling) == str(tmp_path / "nowhere.npz")
    assert not (tmp_path / "nowhere.npz").exists()


def test_fifos_are_refused_without_blocking(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "w.npz"
    os.mkfifo(fifo)
    line = refused(capsys, "init", str(net(tmp_path)), "-o", str(fifo), "--seed", "1",
                   "--force")
    assert "pipe" in line and stat.S_ISFIFO(fifo.lstat().st_mode)


@pytest.mark.parametrize("output", ["", "x" * 300 + ".npz", "/", ".."])
def test_odd_output_names_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       output: str) -> None:
    os.chdir(tmp_path)
    refused(capsys, "init", str(net(tmp_path)), "-o", output, "--format", "npz", "--seed", "1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.prototxt"]


def test_npy_folders_follow_the_umask(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = os.umask(0o022)
    try:
        assert run(capsys, "init", str(net(tmp_path)), "-o", f"{tmp_path}/w/", "--seed",
                   "1")[0] == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "w").stat().st_mode) == 0o755
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o644 for p in (tmp_path / "w").iterdir())


# ------------------------------------------------------------------ names


def test_npy_names_of_lookalike_layers_differ(tmp_path: Path) -> None:
    names = ["\U0001F600", "\u1F600", "%u1F600", "a/0", "a", "A"]
    text = NET.replace('"ip"', '"ip0"') + "".join(
        f'layer {{ name: "{name}" type: "InnerProduct" bottom: "x" top: "t{i}" '
        f'inner_product_param {{ num_output: 2 bias_term: false }} }}\n'
        for i, name in enumerate(names))
    prepared = prepare_net(net(tmp_path, text), seed=3)
    out = write_weights(f"{tmp_path}/w/", prepared.blobs(), prepared.meta(), prepared.model)
    back = load_weights(out)
    assert list(back.params) == ["ip0", *names]
    npz = write_weights(tmp_path / "w.npz", prepared.blobs(), prepared.meta(), prepared.model)
    again = load_weights(npz)
    for name in names:
        assert (back.params[name][0] == again.params[name][0]).all()


layer_names = st.text(max_size=12)


@settings(max_examples=400, deadline=None)
@given(layer_names, st.integers(0, 20), layer_names, st.integers(0, 20))
def test_every_name_mapping_is_one_to_one(a: str, i: int, b: str, j: int) -> None:
    from caffefill.writers.names import blob_key, escape, file_name, split_key, unescape

    assert unescape(escape(a)) == a and split_key(blob_key(a, i)) == (a, i)
    name = file_name(a, i)
    assert re.fullmatch(r"[A-Za-z0-9_.%-]+\.npy", name) and not name.startswith(".")
    if (a, i) != (b, j):
        assert file_name(a, i) != file_name(b, j)  # .npy folders
        assert blob_key(a, i) != blob_key(b, j)  # .npz members, safetensors keys
        if a != b:
            assert escape(a) != escape(b)


def test_a_case_folding_file_system_is_refused_not_overwritten(tmp_path: Path) -> None:
    from caffefill.writers import npy

    class Blob:
        def __init__(self, key: str) -> None:
            self.key, self.index, self.shape, self.count = key, 0, (1,), 1

        def pieces(self) -> Iterator[Any]:
            import numpy as np

            yield np.ones(1, np.float32)

    real_open = open

    def folding_open(path: Any, mode: str = "r", *args: Any) -> Any:
        return real_open(str(path).lower(), mode, *args)

    import builtins

    folder = tmp_path / "w"
    folder.mkdir()
    original = builtins.open
    builtins.open = folding_open  # type: ignore[assignment]
    try:
        with pytest.raises(WriteError, match="would share the file"):
            npy.write(folder, [Blob("a/0"), Blob("A/0")], {}, None)  # type: ignore[list-item]
    finally:
        builtins.open = original


# ------------------------------------------------------------------ killed and interrupted runs


def _start_and_wait_for_temp(tmp_path: Path, target: str, *extra: str
                             ) -> subprocess.Popen[str]:
    prototxt = tmp_path / "net.prototxt"
    proc = subprocess.Popen(
        [sys.executable, "-m", "caffefill", "init", str(prototxt), "-o",
         f"{tmp_path}/{target}", "--seed", "1", "--boost", "1.55", "--quiet", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=subprocess_env())
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        temps = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        if temps and ((temps[0].is_dir() and any(temps[0].iterdir()))
                      or (temps[0].is_file() and temps[0].stat().st_size > 0)):
            return proc
        time.sleep(0.002)
    proc.kill()
    raise AssertionError("the run ended before it could be interrupted")


@pytest.mark.parametrize("target", ["w.npz", "w_npy/", "w.h5"])
def test_sigkill_leaves_one_temporary_that_the_next_run_removes(tmp_path: Path,
                                                                target: str) -> None:
    if target == "w.h5":
        pytest.importorskip("h5py")
    net(tmp_path, BIG)
    proc = _start_and_wait_for_temp(tmp_path, target)
    proc.kill()
    proc.communicate(timeout=60)
    left = [p.name for p in tmp_path.iterdir() if p.name != "net.prototxt"]
    assert len(left) == 1 and LEFTOVER.fullmatch(left[0]), left
    result = subprocess.run(
        [sys.executable, "-m", "caffefill", "init", str(tmp_path / "net.prototxt"), "-o",
         f"{tmp_path}/{target}", "--seed", "1", "--quiet"],
        capture_output=True, text=True, timeout=120, env=subprocess_env())
    assert result.returncode == 0, result.stderr
    assert f"removed {left[0]}, left by an interrupted run" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.prototxt", target.rstrip("/")]


def test_a_live_runs_temporary_is_not_removed(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    live = tmp_path / f".w.npz.caffefill-{os.getppid()}-abcdefgh.tmp"
    live.write_bytes(b"another run is writing this")
    assert run(capsys, "init", str(net(tmp_path)), "-o", str(tmp_path / "w.npz"),
               "--seed", "1")[0] == 0
    assert live.read_bytes() == b"another run is writing this"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_h5_interrupted_mid_write_leaves_nothing(tmp_path: Path, signum: int) -> None:
    pytest.importorskip("h5py")
    net(tmp_path, BIG)
    proc = _start_and_wait_for_temp(tmp_path, "w.h5")
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, err
    assert "nothing was written" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.prototxt"]


def test_a_lost_signal_is_still_honoured(tmp_path: Path) -> None:
    # A handler's exception raised inside a finaliser or a library callback is
    # dropped by Python; the request it recorded still stops the write.
    from caffefill import interrupt

    prepared = prepare_net(net(tmp_path), seed=1)
    with interrupt.handling():
        interrupt.request(signal.SIGTERM)  # as the handler does, its raise lost
        for target in ("w.npz", "w_npy/", "w.caffemodel"):
            with pytest.raises(interrupt.Terminated):
                write_weights(f"{tmp_path}/{target}", prepared.blobs(), prepared.meta(),
                              prepared.model)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.prototxt"]


def test_signal_while_replacing_a_folder_is_reported_truthfully(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from caffefill.writers import atomic

    prototxt = net(tmp_path)
    out = tmp_path / "w_npy"
    assert run(capsys, "init", str(prototxt), "-o", f"{out}/", "--seed", "1")[0] == 0
    remove_old = atomic._remove_old

    def interrupted(path: Path, files: list[str], target: Path) -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # lands while the old folder is removed
        remove_old(path, files, target)

    monkeypatch.setattr(atomic, "_remove_old", interrupted)
    status, err = run(capsys, "init", str(prototxt), "-o", f"{out}/", "--seed", "2", "--force")
    assert status == 143 and "had been written in full" in err and "nothing" not in err
    assert load_weights(out).meta["seed"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.prototxt", "w_npy"]


# ------------------------------------------------------------------ full disks


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_FSIZE as on Linux")
@pytest.mark.parametrize("target", ["w.npz", "w.caffemodel", "w_npy/", "w.h5"])
def test_file_size_limit_at_any_byte(tmp_path: Path, target: str) -> None:
    if target == "w.h5":
        pytest.importorskip("h5py")
    import resource

    net(tmp_path, BIG.replace("2048", "256"))  # 2.6 MB of weights, 257 KiB a blob
    argv = [sys.executable, "-m", "caffefill", "init", str(tmp_path / "net.prototxt"),
            "-o", f"{tmp_path}/{target}", "--seed", "1", "--quiet"]
    subprocess.run(argv, check=True, capture_output=True, env=subprocess_env())
    written = tmp_path / target.rstrip("/")
    # The largest file written: a limit just below it fails as the file is finished
    # (for .h5, as HDF5 flushes at close).
    size = max(p.stat().st_size for p in written.iterdir()) if written.is_dir() else \
        written.stat().st_size
    subprocess.run(["rm", "-r", str(written)], check=True)
    for limit in (0, 4096, size // 2, size - 6000, size - 1):
        def small_files(limit: int = limit) -> None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

        result = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                                preexec_fn=small_files, env=subprocess_env())
        assert result.returncode == 2, (limit, result.stderr)
        assert len(result.stderr.splitlines()) == 1 and "cannot write" in result.stderr, \
            (limit, result.stderr)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["net.prototxt"], limit


# ------------------------------------------------------------------ numbers


@pytest.mark.parametrize("argv", [
    ["--max-memory", "inf"], ["--max-memory", "1e400"], ["--max-memory", "nan"],
    ["--max-memory", "-5"], ["--max-memory", "0"], ["--max-memory", "99999999T"],
    ["--seed", "-1"], ["--seed", "nan"], ["--level", "99999999999"], ["--level", "inf"],
])
def test_numeric_options_refuse_junk(tmp_path: Path, argv: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "caffefill", "init", str(net(tmp_path)), "-o",
         str(tmp_path / "w.npz"), *argv], capture_output=True, text=True, timeout=60,
        env=subprocess_env())
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and argv[0] in errors[0] and "Traceback" not in result.stderr
    assert not (tmp_path / "w.npz").exists()


@pytest.mark.parametrize("argv", [
    ["--value", "inf"], ["--std", "nan"], ["--min", "-1e39"], ["--sparse", "1e3"],
    ["--sparse", "4294967296"], ["--shape", "4294967296"], ["--max-memory", "-1"],
])
def test_fill_numeric_options_refuse_junk(argv: list[str]) -> None:
    base = {"--shape": ["--shape", "4"], "--seed": ["--seed", "1"]}
    given_names = set(argv[::2])
    extra = [part for name, parts in base.items() if name not in given_names for part in parts]
    with pytest.raises(SystemExit) as info:
        main(["fill", "--type", "constant", *extra, *argv])
    assert info.value.code == 2


def test_meta_json_of_a_npy_folder_names_its_files(tmp_path: Path) -> None:
    prepared = prepare_net(net(tmp_path), seed=1)
    out = write_weights(f"{tmp_path}/w/", prepared.blobs(), prepared.meta(), prepared.model)
    document = json.loads((out / "meta.json").read_text())
    assert sorted(e["file"] for e in document["blobs"]) == ["ip%2F0.npy", "ip%2F1.npy"]


# ------------------------------------------------------------------ standard output


@pytest.mark.parametrize("fmt", ["npz", "caffemodel"])
def test_standard_output_when_asked(tmp_path: Path, fmt: str) -> None:
    prototxt = net(tmp_path, BIG.replace("2048", "300"))
    argv = [sys.executable, "-m", "caffefill", "init", str(prototxt), "--seed", "5", "--quiet"]
    piped = subprocess.run([*argv, "-o", "-", "--format", fmt], capture_output=True,
                           timeout=120, env=subprocess_env())
    assert piped.returncode == 0, piped.stderr
    # The summary goes to stderr: stdout holds the weights.
    assert b"standard output: 20 blobs" in piped.stderr
    (tmp_path / f"piped.{fmt}").write_bytes(piped.stdout)
    subprocess.run([*argv, "-o", str(tmp_path / f"file.{fmt}")], check=True,
                   capture_output=True, timeout=120, env=subprocess_env())
    if fmt == "caffemodel":  # written in order either way: the same bytes
        assert piped.stdout == (tmp_path / "file.caffemodel").read_bytes()
    else:  # the CRC-32s follow each member (data descriptors), as zip allows
        import zipfile

        with zipfile.ZipFile(tmp_path / "piped.npz") as archive:
            assert archive.testzip() is None
    a, b = load_weights(tmp_path / f"piped.{fmt}"), load_weights(tmp_path / f"file.{fmt}")
    assert list(a.params) == list(b.params) and a.meta == b.meta
    for layer, arrays in a.params.items():
        for x, y in zip(arrays, b.params[layer], strict=False):
            assert x.tobytes() == y.tobytes()


@pytest.mark.parametrize("extra", [[], ["--format", "h5"], ["--format", "npy"]])
def test_standard_output_needs_a_streaming_format(tmp_path: Path, extra: list[str],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    line = refused(capsys, "init", str(net(tmp_path)), "-o", "-", "--seed", "1", *extra)
    assert "standard output" in line
    assert capsys.readouterr().out == ""


def _mount_tmpfs(folder: Path, size: int) -> bool:
    folder.mkdir()
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return False
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                            capture_output=True)
    return result.returncode == 0


@pytest.mark.parametrize("target", ["w.npz", "w.caffemodel", "w_npy/", "w.h5"])
def test_full_disk(tmp_path: Path, target: str) -> None:
    if target == "w.h5":
        pytest.importorskip("h5py")
    prototxt = net(tmp_path, BIG.replace("2048", "256"))  # 2.6 MB of weights
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, 1 << 20):
        pytest.skip("mounting a small tmpfs needs root and a kernel that lets us")
    try:
        (disk / "keep.npz").write_bytes(b"old")
        for out, force in ((target, []), ("keep.npz", ["--force"])):
            result = subprocess.run(
                [sys.executable, "-m", "caffefill", "init", str(prototxt), "-o",
                 f"{disk}/{out}", "--seed", "1", "--quiet", *force], capture_output=True,
                text=True, timeout=120, env=subprocess_env())
            assert result.returncode == 2, result.stderr
            assert len(result.stderr.splitlines()) == 1, result.stderr
            assert "No space left on device" in result.stderr or "HDF5" in result.stderr
            assert sorted(p.name for p in disk.iterdir()) == ["keep.npz"]
        assert (disk / "keep.npz").read_bytes() == b"old"
    finally:
        subprocess.run(["umount", str(disk)], check=True)
