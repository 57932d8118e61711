"""Fuzzing support shared by tests/test_fuzz.py and tools/fuzz.py.

Two halves:

* **oracles** run one input through a stage of caffefill (the prototxt
  reader, the upgrade and its text output, filtering + Split insertion +
  shape inference, the memory estimate, ``show``'s summary, the fills, one
  layer's registry entry, one filler, the whole command line) and raise
  :class:`Bug` for anything that is not an acceptable outcome: an exception
  that is not one of the project's error classes, a project error that
  wraps a builtin exception (the model's last-resort conversion), an error
  message that is not one line or lacks its file, the CLI's catch-all
  ("internal error") firing, a traceback, an output or temporary file left
  behind by a failed run, or a run past its time bound (:class:`Hang`);
* **generators** (hypothesis strategies) of hostile inputs: random bytes,
  token soups built from prototxt tokens, mutations of the real prototxts
  in the repository, structured random nets (random layer types from the
  registry with random parameters), random LayerParameters for one layer,
  random fillers and shapes.

Every oracle returns a short outcome label ("ok", "ParseError", ...) so a
long run can report what the inputs exercised.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import signal
import tempfile
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from hypothesis import strategies as st

from caffefill._proto import caffefill_pb2 as pb
from caffefill.drawing import iter_blobs
from caffefill.errors import CaffefillError
from caffefill.fillers import SPECS, fill
from caffefill.memory import estimate_bytes
from caffefill.net.filter import filter_net
from caffefill.net.model import build_model
from caffefill.net.reader import read_net
from caffefill.net.registry import LayerContext, known_types, lookup, traits_of
from caffefill.net.spec import FillDraw, draw_runs
from caffefill.net.splits import insert_splits
from caffefill.net.upgrade import message_to_text, upgrade_net, upgraded_text
from caffefill.profiles import Profile, resolve
from caffefill.rng import CaffeRNG
from caffefill.show import render_json, render_table, summarize

ROOT = Path(__file__).resolve().parents[1]
CORPUS_FILES = sorted([*(ROOT / "tests" / "data" / "nets").glob("*.prototxt"),
                       *(ROOT / "tests" / "data" / "upgrade").glob("*.prototxt"),
                       ROOT / "examples" / "lenet.prototxt"])
CORPUS = [path.read_text(encoding="utf-8") for path in CORPUS_FILES]

#: Values drawn at most per input by the fill oracle (keeps each input fast).
FILL_BUDGET = 200_000
#: Seconds one input may take before it counts as a hang.
TIME_LIMIT = float(os.environ.get("CAFFEFILL_FUZZ_TIME_LIMIT", "10"))

PROFILES = [resolve("1.0", "1.74"), resolve("1.0", "1.58"), resolve("1.0", "1.55"),
            resolve("master", "1.74")]


class Bug(AssertionError):
    """An input that made caffefill misbehave."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


class Hang(BaseException):
    """Raised in the main thread when one input runs past :data:`TIME_LIMIT`.

    A BaseException so that no ``except Exception`` of the code under test
    swallows it.
    """


@contextlib.contextmanager
def time_bound(seconds: float = TIME_LIMIT) -> Iterator[None]:
    """Raise :class:`Hang` when the body runs longer than ``seconds``.

    Works for Python code; a loop inside the C core would not be
    interrupted (the test modules also arm faulthandler for that).
    """
    if seconds <= 0 or not hasattr(signal, "setitimer"):
        yield
        return

    def alarm(signum: int, frame: Any) -> None:
        raise Hang(f"an input ran longer than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def bounded(*expected: type[BaseException]) -> Iterator[None]:
    """Run the body under :func:`time_bound`; any exception escaping it but
    :class:`Bug`, :class:`Hang` and the ``expected`` ones becomes a Bug that
    says where it was raised."""
    try:
        with time_bound():
            yield
    except (Bug, Hang, *expected):  # type: ignore[misc]
        raise
    except BaseException as exc:
        raise unexpected(exc) from exc


# ===================================================================== oracles


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return type(exc).__name__
    last = frames[-1]
    return f"{type(exc).__name__} at {Path(last.filename).name}:{last.lineno} ({last.name})"


def unexpected(exc: BaseException) -> Bug:
    """A Bug for an exception that escaped, with where it was raised."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return Bug(f"escaped {_where(exc)}", f"{exc!r}\n{text}")


def check_error(exc: CaffefillError, path: str | None = None) -> None:
    """A project error must be a proper one: one line, located, not a wrapped bug."""
    cause = exc.__cause__
    if cause is not None and not isinstance(cause, CaffefillError) and \
            not isinstance(cause, (OSError, UnicodeError)):
        raise Bug(f"wrapped {_where(cause)}", f"{exc} <- {cause!r}")
    text = str(exc)
    if "\n" in text or "\r" in text:
        raise Bug("multi-line error message", repr(text))
    if not exc.message:
        raise Bug("empty error message", repr(exc))
    if path is not None and exc.path != path:
        raise Bug("error without its file", f"{type(exc).__name__}: {text}")
    if exc.layer is not None and path is not None and exc.line is None:
        raise Bug("layer error without a line", f"{type(exc).__name__}: {text}")


def draw_work(model: Any) -> int:
    """Values the fills of ``model`` would draw or allocate (repeats included)."""
    total = 0
    for layer in model.layers:
        for pattern, times in draw_runs(layer.draws):
            per = 0
            for draw in pattern:
                if isinstance(draw, FillDraw):
                    spec = SPECS.get(draw.filler.type)
                    if draw.blob is None and spec is not None and not spec.draws:
                        continue
                    per += math.prod(draw.shape)
                else:
                    per += draw.count
            total += per * times
        total += sum(spec.count for spec in layer.blobs)
    return total


@dataclass
class PipelineResult:
    outcome: str
    layers: int = 0
    blobs: int = 0
    filled: bool = False


def check_pipeline(data: bytes | str, *, phase: str = "TEST", profile: Profile | None = None,
                   seed: int = 1, fill_budget: int = FILL_BUDGET,
                   path: str = "fuzz.prototxt",
                   inputs: dict[str, tuple[int, ...]] | None = None) -> PipelineResult:
    """Reader -> upgrade (and its text, read back) -> filter -> splits -> model ->
    show's summary -> memory estimate -> fills.  Raises Bug; returns the outcome.
    ``inputs`` are shapes given for data tops (the CLI's ``--input``)."""
    profile = profile or PROFILES[0]
    try:
        with bounded(CaffefillError):
            return _pipeline(data, phase, profile, seed, fill_budget, path, inputs)
    except CaffefillError as exc:
        check_error(exc, path)
        return PipelineResult(type(exc).__name__)


def _pipeline(data: bytes | str, phase: str, profile: Profile, seed: int, fill_budget: int,
              path: str, inputs: dict[str, tuple[int, ...]] | None) -> PipelineResult:
    src = read_net(path, text=data)
    upgraded = upgrade_net(src)
    text = upgraded_text(upgraded)
    _check_upgrade_round_trip(text, path)
    phase_id = pb.TRAIN if phase == "TRAIN" else pb.TEST
    try:
        filtered = filter_net(upgraded.param, phase=phase_id, positions=upgraded.positions)
    except CaffefillError as exc:
        raise exc.located(path=path) from None
    split, positions = insert_splits(filtered.param, filtered.positions, path=path)
    model = build_model(split, phase=phase_id, path=path, inputs=inputs,
                        positions=[p if p is not None else (0, 0) for p in positions])
    rows = summarize(model, profile)
    render_table(model, rows)
    render_json(model, rows)
    for fmt in (None, "npz", "caffemodel"):
        estimate_bytes(model, fmt)
    result = PipelineResult("ok", len(model.layers), sum(len(la.blobs) for la in model.layers))
    if draw_work(model) <= fill_budget:
        expected = [(layer.name, i, tuple(spec.shape)) for layer in model.layers
                    for i, spec in enumerate(layer.blobs)]
        got = [(blob.layer.name, blob.index, blob.array.shape)
               for blob in iter_blobs(model, CaffeRNG(seed), profile)]
        if got != expected:
            raise Bug("fill produced other blobs than the model lists", f"{got} != {expected}")
        result.filled = True
    return result


def _check_upgrade_round_trip(text: str, path: str) -> None:
    """What ``caffefill upgrade`` writes must read back and print the same."""
    try:
        again = upgraded_text(upgrade_net(read_net(path + ".upgraded", text=text)))
    except CaffefillError as exc:
        raise Bug("upgraded text does not read back", f"{exc}\n--- text ---\n{text}") from exc
    if again != text:
        raise Bug("upgraded text is not stable", f"{text!r} -> {again!r}")


def check_layer_setup(param: pb.LayerParameter, bottoms: Sequence[Sequence[int]],
                      phase: int = pb.TEST,
                      inputs: dict[str, tuple[int, ...]] | None = None) -> str:
    """One registry entry called directly (no model wrapper to hide its exceptions)."""
    setup_fn = lookup(param.type)
    if setup_fn is None:
        return "unknown type"
    ctx = LayerContext(param=param, bottoms=[tuple(int(d) for d in b) for b in bottoms],
                       phase=phase, inputs=dict(inputs or {}), path="layer.prototxt", line=1,
                       column=1)
    try:
        with bounded(CaffefillError):
            setup = setup_fn(ctx)
            tops = [tuple(int(d) for d in t) for t in setup.tops]
            for blob in setup.blobs:
                tuple(int(d) for d in blob.shape)
            draw_runs(setup.draw_sequence())
    except CaffefillError as exc:
        check_error(exc)
        return type(exc).__name__
    del tops
    return "ok"


def check_fill(filler: pb.FillerParameter | str, shape: Sequence[int], profile: Profile,
               seed: int = 1) -> str:
    """One filler on one blob: a FillerError or CaffefillError, or values of that shape."""
    try:
        with bounded(CaffefillError):
            values = fill(filler, shape, seed=seed, caffe=profile.caffe, boost=profile.boost)
    except CaffefillError as exc:
        check_error(exc)
        return type(exc).__name__
    if values.shape != tuple(shape) or values.dtype != np.float32:
        raise Bug("fill returned the wrong array", f"{values.shape} {values.dtype}")
    return "ok"


# ----------------------------------------------------------------- the CLI

_ERROR_LINE = re.compile(r"^caffefill: error: .+$")


def run_cli(argv: Sequence[str]) -> tuple[int, str, str]:
    """``caffefill ARGV`` in this process: (status, stdout, stderr)."""
    from caffefill.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(list(argv))
        except SystemExit as exc:  # argparse
            status = exc.code if isinstance(exc.code, int) else 2
    if status in (128 + 1, 128 + 2, 128 + 15):
        # main() turned a Ctrl-C or kill aimed at this process into an exit status.
        raise KeyboardInterrupt(err.getvalue().strip())
    return int(status), out.getvalue(), err.getvalue()


def _catch_all_bug(argv: Sequence[str], stderr: str) -> Bug:
    """Run ``argv`` again with --debug to see where the exception came from."""
    from caffefill.cli import main

    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main(["--debug", *argv])
    except BaseException as exc:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        return Bug(f"CLI catch-all fired: {_where(exc)}", f"{list(argv)}: {text}")
    return Bug("CLI catch-all fired", f"{list(argv)}: {stderr.strip()}")


def check_cli_output(argv: Sequence[str], status: int, stderr: str,
                     allowed: Sequence[int] = (0, 2)) -> None:
    if "internal error" in stderr:
        raise _catch_all_bug(argv, stderr)
    if "Traceback" in stderr:
        raise Bug("CLI printed a traceback", f"{list(argv)}: {stderr}")
    if status not in allowed:
        raise Bug(f"CLI exit status {status}", f"{list(argv)}: {stderr.strip()}")
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("caffefill: error")]
    if status == 2:
        if len(errors) != 1 or not _ERROR_LINE.match(errors[0]):
            raise Bug("CLI error is not one 'caffefill: error:' line",
                      f"{list(argv)}: {stderr!r}")
        if "out of memory" in errors[0]:
            raise Bug("CLI ran out of memory", f"{list(argv)}: {errors[0]}")
    for line in lines:
        if not line.startswith(("caffefill: ", "warning: ", "  ")):
            raise Bug("CLI printed an unexpected stderr line", f"{list(argv)}: {line!r}")


def check_cli(data: bytes, *, fill_budget: int = FILL_BUDGET) -> str:
    """``show``, ``upgrade`` and (when the fills are small) ``init`` on one file."""
    with tempfile.TemporaryDirectory(prefix="caffefill-fuzz-") as tmp:
        folder = Path(tmp)
        net = folder / "net.prototxt"
        net.write_bytes(data)
        out = folder / "out"
        out.mkdir()
        outcomes = []
        with bounded():
            argv = ["show", str(net)]
            status, _, err = run_cli(argv)
            check_cli_output(argv, status, err)
            outcomes.append(f"show:{status}")
            argv = ["show", str(net), "--json", "--phase", "TRAIN"]
            status, _, err = run_cli(argv)
            check_cli_output(argv, status, err)
            argv = ["upgrade", str(net), "-o", str(out / "up.prototxt")]
            status, _, err = run_cli(argv)
            check_cli_output(argv, status, err)
            _check_folder(out, argv, status, "up.prototxt")
            outcomes.append(f"upgrade:{status}")
            if status == 0:
                (out / "up.prototxt").unlink()
            try:
                model = _model_of(net)
            except CaffefillError:
                model = None
            if model is None or draw_work(model) <= fill_budget:
                for target in _INIT_TARGETS:
                    argv = ["init", str(net), "-o", f"{out}/{target}", "--seed", "7",
                            "--quiet", "--max-memory", "1G"]
                    status, _, err = run_cli(argv)
                    check_cli_output(argv, status, err)
                    _check_folder(out, argv, status, target.rstrip("/"))
                    if status == 0:
                        _check_written(out / target.rstrip("/"), model)
                    outcomes.append(f"init:{status}")
                    for child in out.iterdir():
                        if child.is_dir():
                            for grandchild in child.iterdir():
                                grandchild.unlink()
                            child.rmdir()
                        else:
                            child.unlink()
        return " ".join(outcomes)


def _h5_available() -> bool:
    try:
        import h5py  # noqa: F401
    except ImportError:
        return False
    return True


_INIT_TARGETS = ("w.npz", "w.caffemodel", "w_npy/", *(("w.h5",) if _h5_available() else ()))


def _model_of(net: Path) -> Any:
    from caffefill.net.load import load_net

    return load_net(net)[1]


def _check_folder(folder: Path, argv: Sequence[str], status: int, target: str) -> None:
    names = sorted(p.name for p in folder.iterdir())
    expected = [target] if status == 0 else []
    if names != expected:
        raise Bug("output folder holds other files than the run's output",
                  f"{list(argv)} exit {status}: {names}")


def _check_written(path: Path, model: Any) -> None:
    from caffefill.writers import load_weights

    back = load_weights(path)
    want = [(layer.name, len(layer.blobs)) for layer in model.layers if layer.blobs]
    got = [(name, len(blobs)) for name, blobs in back.params.items()]
    if got != want:
        raise Bug("written weights do not match the model", f"{path.name}: {got} != {want}")


# ================================================================== generators

INTERESTING_INTS = [0, 1, -1, 2, 3, 4, 5, 7, 8, 16, 255, 256, 1000, 65535, 65536, 10**6,
                    2**31 - 1, 2**31, -(2**31), 2**32 - 1, 2**32, 2**63 - 1, 2**64 - 1,
                    2000000000, 4000000000, 46341]
INTERESTING_FLOATS = [0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 1e-45, 1e-38, 1e-7, 0.01, 100.0, 1e10,
                      3.4e38, 3.4028235e38, -3.4028235e38, 3.4028236e38, 1e300, math.inf,
                      -math.inf, math.nan]

TOKENS = [
    "layer", "layers", "name", "type", "bottom", "top", "input", "input_dim", "input_shape",
    "dim", "shape", "param", "lr_mult", "include", "exclude", "phase", "TRAIN", "TEST",
    "convolution_param", "num_output", "kernel_size", "stride", "pad", "group", "weight_filler",
    "bias_filler", "inner_product_param", "pooling_param", "pool", "MAX", "AVE",
    "recurrent_param", "dummy_data_param", "data_filler", "input_param", "min", "max", "std",
    "value", "sparse", "variance_norm", "FAN_IN", "AVERAGE", "true", "false", "layer {",
    "{", "}", "<", ">", "[", "]", ":", ",", ";", "-", ".", "/", "#", "\n", " ", "\t", "\r",
    '"data"', '"conv"', '"x"', '"Convolution"', '"InnerProduct"', '"Input"', '"ReLU"',
    '"LSTM"', '"DummyData"', '"xavier"', '"uniform"', '"gaussian"', '"msra"', '"constant"',
    '"bilinear"', '"unknown"', "'single'", '"', "'", "\\", '"\\x"', '"\\u12"', '"\\777"',
    '"\\xff"', '"\\ud800"', "0", "1", "-1", "0x", "0x1F", "07", "08", "1e", "1e5", "1.5f", ".5",
    "5.", "1..2", "inf", "-inf", "nan", "4294967295", "4294967296", "2147483648",
    "99999999999999999999999999999999999999999999999999999999999999999999", "3.4028236e38",
    "1e400", "\u00e9", "\u200b", "\x00", "\ufeff", "\U0001f600", "[caffe.ext]", "type:", "name:",
]


def _layer_types() -> list[str]:
    return known_types()


@st.composite
def token_soups(draw: st.DrawFn) -> str:
    """Prototxt-ish text: tokens, field names, type names, numbers, glue."""
    names = [f.name for f in pb.LayerParameter.DESCRIPTOR.fields] + \
        [f.name for f in pb.NetParameter.DESCRIPTOR.fields]
    element = st.one_of(
        st.sampled_from(TOKENS),
        st.sampled_from(names),
        st.sampled_from(_layer_types()).map(lambda t: f'"{t}"'),
        st.sampled_from(INTERESTING_INTS).map(str),
        st.sampled_from(INTERESTING_FLOATS).map(repr),
        st.text(max_size=4),
    )
    parts = draw(st.lists(element, max_size=60))
    glue = draw(st.sampled_from([" ", "\n", "", " \t"]))
    return glue.join(parts)


_TOKEN_RE = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|[A-Za-z_][A-Za-z0-9_]*|'
                       r'-?[0-9.][0-9A-Za-z.+-]*|\s+|#[^\n]*|.', re.DOTALL)
_NUMBER_RE = re.compile(r"-?[0-9.]")


def _tokens(text: str) -> list[str]:
    return _TOKEN_RE.findall(text)


@st.composite
def mutated_prototxts(draw: st.DrawFn) -> str:
    """A real prototxt of the repository with 1-6 token-level mutations."""
    text = draw(st.sampled_from(CORPUS))
    tokens = _tokens(text)
    replacements = st.one_of(
        st.sampled_from(TOKENS),
        st.sampled_from(INTERESTING_INTS).map(str),
        st.sampled_from(INTERESTING_FLOATS).map(repr),
        st.sampled_from(_layer_types()).map(lambda t: f'"{t}"'),
        st.sampled_from([f.name for f in pb.LayerParameter.DESCRIPTOR.fields]),
    )
    for _ in range(draw(st.integers(1, 6))):
        if not tokens:
            break
        op = draw(st.sampled_from(["number", "number", "replace", "delete", "insert",
                                   "duplicate", "swap", "truncate", "type"]))
        i = draw(st.integers(0, len(tokens) - 1))
        if op == "number":
            numbers = [k for k, tok in enumerate(tokens) if _NUMBER_RE.match(tok)]
            if numbers:
                k = numbers[draw(st.integers(0, len(numbers) - 1))]
                tokens[k] = draw(st.one_of(st.sampled_from(INTERESTING_INTS).map(str),
                                           st.sampled_from(INTERESTING_FLOATS).map(repr)))
        elif op == "replace":
            tokens[i] = draw(replacements)
        elif op == "delete":
            j = min(len(tokens), i + draw(st.integers(1, 40)))
            del tokens[i:j]
        elif op == "insert":
            tokens.insert(i, " " + draw(replacements) + " ")
        elif op == "duplicate":
            j = min(len(tokens), i + draw(st.integers(1, 200)))
            tokens[i:i] = tokens[i:j]
        elif op == "swap":
            k = draw(st.integers(0, len(tokens) - 1))
            tokens[i], tokens[k] = tokens[k], tokens[i]
        elif op == "truncate":
            del tokens[i:]
        elif op == "type":
            types = [k for k, tok in enumerate(tokens) if tok == "type"]
            if types:
                k = types[draw(st.integers(0, len(types) - 1))]
                for m in range(k + 1, min(k + 4, len(tokens))):
                    if tokens[m].startswith('"'):
                        tokens[m] = '"' + draw(st.sampled_from(_layer_types())) + '"'
                        break
    return "".join(tokens)


# ---------------------------------------------------------------- messages

_SCALAR_INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}


def _small_ints(low: int, high: int) -> st.SearchStrategy[int]:
    picks = [v for v in INTERESTING_INTS if low <= v <= high]
    return st.one_of(st.integers(max(low, -2), min(high, 9)), st.sampled_from(picks))


def _is_repeated(fd: FieldDescriptor) -> bool:
    flag = getattr(fd, "is_repeated", None)
    if flag is not None:
        return bool(flag)
    return bool(fd.label == FieldDescriptor.LABEL_REPEATED)


_SKIP_FIELDS = {"blobs", "name", "type", "bottom", "top", "layer", "layers"}


def _scalar(draw: st.DrawFn, fd: FieldDescriptor) -> Any:
    kind = fd.type
    if kind in _SCALAR_INT_RANGES:
        low, high = _SCALAR_INT_RANGES[kind]
        return draw(_small_ints(low, high))
    if kind in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
        return draw(st.one_of(st.sampled_from(INTERESTING_FLOATS),
                              st.floats(-10, 10, width=32)))
    if kind == FieldDescriptor.TYPE_BOOL:
        return draw(st.booleans())
    if kind == FieldDescriptor.TYPE_ENUM:
        return draw(st.sampled_from([v.number for v in fd.enum_type.values]))
    if kind == FieldDescriptor.TYPE_STRING:
        if fd.name == "type" and fd.containing_type.name == "FillerParameter":
            return draw(st.sampled_from([*SPECS, "Xavier", "bogus", ""]))
        return draw(st.sampled_from(["", "a", "x", "shared", "data", "../up", "\u00e9"]))
    if kind == FieldDescriptor.TYPE_BYTES:
        return draw(st.binary(max_size=4))
    raise AssertionError(f"unhandled field type {kind}")


def fill_message(draw: st.DrawFn, message: Any, depth: int = 0, max_fields: int = 4) -> None:
    """Set a few random fields of ``message`` (recursively, depth-limited)."""
    descriptor: Descriptor = message.DESCRIPTOR
    fields = [fd for fd in descriptor.fields if fd.name not in _SKIP_FIELDS]
    if not fields:
        return
    chosen = draw(st.lists(st.sampled_from(fields), max_size=max_fields,
                           unique_by=lambda f: f.name))
    for fd in chosen:
        if fd.containing_oneof is not None and any(
                message.HasField(other.name) for other in fd.containing_oneof.fields):
            continue
        is_message = fd.type in (FieldDescriptor.TYPE_MESSAGE, FieldDescriptor.TYPE_GROUP)
        if is_message and depth >= 3:
            continue
        if _is_repeated(fd):
            for _ in range(draw(st.integers(0, 3))):
                if is_message:
                    fill_message(draw, getattr(message, fd.name).add(), depth + 1, 3)
                else:
                    getattr(message, fd.name).append(_scalar(draw, fd))
        elif is_message:
            sub = getattr(message, fd.name)
            sub.SetInParent()
            fill_message(draw, sub, depth + 1, 3)
        else:
            setattr(message, fd.name, _scalar(draw, fd))


def param_fields_for(type_name: str) -> list[str]:
    """The LayerParameter sub-message(s) a layer type reads (its traits say)."""
    return list(traits_of(type_name).reads)


_SHAPE_DIMS = st.one_of(st.integers(1, 6), st.sampled_from([1, 2, 3, 4, 8, 16, 32, 1000]),
                        st.sampled_from([0, -1, 2**16, 2**31 - 1, 2**31, 2**40]))


@st.composite
def shapes(draw: st.DrawFn, hostile: bool = True) -> tuple[int, ...]:
    dims = _SHAPE_DIMS if hostile else st.integers(1, 6)
    return tuple(draw(st.lists(dims, min_size=0 if hostile else 1, max_size=5)))


@st.composite
def bottom_shapes(draw: st.DrawFn) -> tuple[int, ...]:
    """A shape a layer can receive from the model: positive dims, at most 32 axes,
    at most 2**31 - 1 values (the model refuses anything else before)."""
    dims = draw(st.lists(st.one_of(st.integers(1, 9), st.sampled_from(
        [1, 2, 3, 4, 7, 8, 16, 46341, 2**16, 2**31 - 1])), max_size=5))
    while math.prod(dims) > 2**31 - 1:
        dims[dims.index(max(dims))] = 1
    return tuple(dims)


@st.composite
def layer_cases(draw: st.DrawFn) -> tuple[pb.LayerParameter, list[tuple[int, ...]],
                                          dict[str, tuple[int, ...]]]:
    """One layer of a random registered type, its tops named, input shapes, and
    ``--input`` shapes for its tops (data layers)."""
    type_name = draw(st.sampled_from(_layer_types()))
    if _one_in(draw, 3):
        lp = draw(layer_params(type_name))
    else:
        lp = pb.LayerParameter(name="l", type=type_name)
        _sane_params(draw, lp)
    nb, nt = ARITY.get(type_name, (1, 1))
    if _one_in(draw, 6):
        nb, nt = draw(st.integers(0, 4)), draw(st.integers(0, 4))
    first = draw(bottom_shapes()) if nb else ()
    bottoms = [first if draw(st.booleans()) else draw(bottom_shapes()) for _ in range(nb)]
    lp.ClearField("bottom")
    lp.ClearField("top")
    lp.bottom.extend(f"b{i}" for i in range(nb))
    lp.top.extend(f"t{i}" for i in range(nt))
    given = draw(st.dictionaries(st.sampled_from(["t0", "t1", "t2", "l"]),
                                 st.lists(st.integers(1, 9), min_size=1, max_size=5).map(tuple),
                                 max_size=3))
    return lp, bottoms, given


@st.composite
def layer_params(draw: st.DrawFn, type_name: str | None = None) -> pb.LayerParameter:
    """A LayerParameter for one registered type with random parameters."""
    lp = pb.LayerParameter()
    lp.name = draw(st.sampled_from(["l", "conv", "relu", "ip"]))
    lp.type = type_name or draw(st.sampled_from(_layer_types()))
    for name in param_fields_for(lp.type):
        sub = getattr(lp, name)
        sub.SetInParent()
        fill_message(draw, sub, 1, 6)
    if draw(st.booleans()):
        fill_message(draw, lp, 1, 2)
    return lp


#: (bottoms, tops) a layer type usually has, for wiring structured nets.
ARITY: dict[str, tuple[int, int]] = {
    "Input": (0, 1), "DummyData": (0, 1), "MemoryData": (0, 2), "Data": (0, 2),
    "ImageData": (0, 2), "WindowData": (0, 2), "AnnotatedData": (0, 2), "VideoData": (0, 2),
    "HDF5Data": (0, 2), "DenseImageData": (0, 2), "ImageSegData": (0, 3), "Python": (1, 1),
    "Parameter": (0, 1), "Concat": (2, 1), "Eltwise": (2, 1), "Slice": (1, 2), "Split": (1, 2),
    "LSTM": (2, 1), "RNN": (2, 1), "Silence": (1, 0), "Crop": (2, 1), "Accuracy": (2, 1),
    "SoftmaxWithLoss": (2, 1), "EuclideanLoss": (2, 1), "SigmoidCrossEntropyLoss": (2, 1),
    "HingeLoss": (2, 1), "InfogainLoss": (3, 1), "MultinomialLogisticLoss": (2, 1),
    "ContrastiveLoss": (3, 1), "BatchReindex": (2, 1), "Filter": (2, 1), "HDF5Output": (2, 0),
    "LSTMUnit": (3, 2), "Upsample": (2, 1), "SegAccuracy": (2, 1), "ROIPooling": (2, 1),
    "PSROIPooling": (2, 1), "BoxAnnotatorOHEM": (4, 2), "DetectionOutput": (3, 1),
    "DetectionEvaluate": (2, 1), "MultiBoxLoss": (4, 1), "SmoothL1Loss": (2, 1),
    "PriorBox": (2, 1),
}
_CONV_TYPES = ("Convolution", "Deconvolution", "DepthwiseConvolution", "ConvolutionDepthwise",
               "Im2col")


def _one_in(draw: st.DrawFn, n: int) -> bool:
    """True about once in ``n`` (hypothesis prefers small integers, so test the top)."""
    return bool(draw(st.integers(0, n - 1)) == n - 1)


@st.composite
def sane_fillers(draw: st.DrawFn) -> pb.FillerParameter:
    """Mostly the fillers real nets use, now and then a hostile one."""
    if _one_in(draw, 6):
        return draw(fillers())
    f = pb.FillerParameter()
    f.type = draw(st.sampled_from(["xavier", "msra", "gaussian", "constant", "uniform",
                                   "bilinear", "positive_unitball"]))
    if f.type == "gaussian":
        f.std = draw(st.sampled_from([0.01, 0.1, 1.0]))
    elif f.type == "uniform":
        f.min, f.max = -0.1, 0.1
    elif f.type == "constant":
        f.value = draw(st.sampled_from([0.0, 0.2, 1.0]))
    elif f.type in ("xavier", "msra") and draw(st.booleans()):
        f.variance_norm = draw(st.sampled_from(list(pb.FillerParameter.VarianceNorm.values())))
    return f


def _sane_params(draw: st.DrawFn, lp: pb.LayerParameter) -> None:
    """Parameters that usually set the layer up, so nets reach the fills."""
    t = lp.type
    small = st.integers(1, 4)
    if t in _CONV_TYPES:
        p = lp.convolution_param
        p.num_output = draw(small)
        p.kernel_size.append(draw(st.integers(1, 3)))
        if draw(st.booleans()):
            p.stride.append(draw(st.integers(1, 2)))
        if draw(st.booleans()):
            p.pad.append(draw(st.integers(0, 1)))
        p.weight_filler.CopyFrom(draw(sane_fillers()))
        if draw(st.booleans()):
            p.bias_filler.CopyFrom(draw(sane_fillers()))
    elif t == "InnerProduct":
        p = lp.inner_product_param
        p.num_output = draw(small)
        p.weight_filler.CopyFrom(draw(sane_fillers()))
        p.transpose = draw(st.booleans())
    elif t == "Embed":
        lp.embed_param.num_output = draw(small)
        lp.embed_param.input_dim = draw(small)
        lp.embed_param.weight_filler.CopyFrom(draw(sane_fillers()))
    elif t == "Pooling":
        p = lp.pooling_param
        if _one_in(draw, 4):
            p.global_pooling = True
        else:
            p.kernel_size = draw(st.integers(1, 3))
            p.stride = draw(st.integers(1, 2))
        p.pool = draw(st.sampled_from([pb.PoolingParameter.MAX, pb.PoolingParameter.AVE]))
    elif t in ("LSTM", "RNN"):
        p = lp.recurrent_param
        p.num_output = draw(small)
        p.weight_filler.CopyFrom(draw(sane_fillers()))
        p.bias_filler.CopyFrom(draw(sane_fillers()))
    elif t in ("Scale", "Bias"):
        p = lp.scale_param if t == "Scale" else lp.bias_param
        p.filler.CopyFrom(draw(sane_fillers()))
        if t == "Scale":
            lp.scale_param.bias_term = draw(st.booleans())
    elif t == "PReLU":
        lp.prelu_param.filler.CopyFrom(draw(sane_fillers()))
    elif t == "Normalize":
        lp.norm_param.scale_filler.CopyFrom(draw(sane_fillers()))
    elif t == "BN":
        lp.bn_param.scale_filler.CopyFrom(draw(sane_fillers()))
    elif t in ("DummyData", "Parameter"):
        dims = draw(st.lists(st.integers(1, 5), min_size=1, max_size=4))
        if t == "DummyData":
            lp.dummy_data_param.shape.add().dim.extend(dims)
            if draw(st.booleans()):
                lp.dummy_data_param.data_filler.add().CopyFrom(draw(sane_fillers()))
        else:
            lp.parameter_param.shape.dim.extend(dims)
    elif t == "Reshape":
        lp.reshape_param.shape.dim.extend(draw(st.lists(st.sampled_from([0, -1, 1, 2]),
                                                        max_size=4)))
    elif t == "Tile":
        lp.tile_param.tiles = draw(small)
    elif t == "LRN":
        lp.lrn_param.local_size = draw(st.sampled_from([1, 3, 5]))
    elif t == "Permute":
        lp.permute_param.order.extend(draw(st.permutations([0, 1, 2, 3]))[:draw(small)])
    elif t == "PriorBox":
        lp.prior_box_param.min_size.append(draw(st.sampled_from([4.0, 8.0])))
        lp.prior_box_param.aspect_ratio.append(2.0)
        lp.prior_box_param.flip = draw(st.booleans())
    elif t == "Interp":
        lp.interp_param.zoom_factor = draw(small)
    elif t == "Upsample":
        lp.upsample_param.scale = 2
    elif t == "ArgMax":
        lp.argmax_param.top_k = 1
    elif t == "Crop":
        lp.crop_param.axis = draw(st.integers(0, 3))
    elif t == "SPP":
        lp.spp_param.pyramid_height = draw(st.integers(1, 3))
    for name in param_fields_for(t):
        if _one_in(draw, 4):
            sub = getattr(lp, name)
            sub.SetInParent()
            fill_message(draw, sub, 1, 2)


@st.composite
def structured_nets(draw: st.DrawFn) -> str:
    """A net text: Input layer(s), then random registered layers wired to earlier tops,
    with parameters that mostly make sense (and now and then do not)."""
    net = pb.NetParameter()
    net.name = "fuzz"
    available: list[str] = []
    for i in range(draw(st.integers(1, 2))):
        layer = net.layer.add(name=f"in{i}", type="Input")
        top = f"d{i}"
        layer.top.append(top)
        if _one_in(draw, 6):
            dims = draw(st.lists(_SHAPE_DIMS, min_size=1, max_size=5))
        elif _one_in(draw, 3):
            dims = draw(st.lists(st.integers(1, 8), min_size=1, max_size=5))
        else:
            dims = [draw(st.integers(1, 3)), draw(st.integers(1, 4)),
                    draw(st.integers(1, 9)), draw(st.integers(1, 9))]
        layer.input_param.shape.add().dim.extend(dims)
        available.append(top)
    types = _layer_types()
    common = ["Convolution", "InnerProduct", "Pooling", "ReLU", "Concat", "Eltwise", "LSTM",
              "RNN", "Scale", "BatchNorm", "Deconvolution", "DummyData", "Reshape", "Slice",
              "Softmax", "PReLU", "Embed", "Flatten", "Split"]
    names = ["a", "b", "relu", "conv", "a/b", "", ".", "n\0ul", "\u00e9", "\x1b[31m", "x\ny"]
    for i in range(draw(st.integers(1, 7))):
        type_name = draw(st.one_of(st.sampled_from(common), st.sampled_from(types)))
        layer = net.layer.add(name=f"l{i}", type=type_name)
        if _one_in(draw, 4):
            layer.CopyFrom(draw(layer_params(type_name)))
        else:
            _sane_params(draw, layer)
        layer.name = draw(st.sampled_from(names)) if _one_in(draw, 5) else f"l{i}"
        nb, nt = ARITY.get(type_name, (1, 1))
        if _one_in(draw, 5):
            nb, nt = draw(st.integers(0, 3)), draw(st.integers(0, 3))
        for _ in range(nb):
            use_undefined = _one_in(draw, 20) or not available
            layer.bottom.append("undefined" if use_undefined else
                                draw(st.sampled_from(available)))
        for j in range(nt):
            if j < len(layer.bottom) and _one_in(draw, 3):
                layer.top.append(layer.bottom[j])  # in place
            else:
                layer.top.append(f"t{i}_{j}")
        available.extend(t for t in layer.top if t not in available)
        if _one_in(draw, 6):
            spec = layer.param.add()
            spec.name = draw(st.sampled_from(["w", "shared", ""]))
            if draw(st.booleans()):
                spec.lr_mult = draw(st.sampled_from([0.0, 1.0, 2.0]))
        if _one_in(draw, 8):
            rule = layer.include.add() if draw(st.booleans()) else layer.exclude.add()
            rule.phase = draw(st.sampled_from([pb.TRAIN, pb.TEST]))
        if _one_in(draw, 8):
            layer.loss_weight.append(draw(st.sampled_from([0.0, 1.0])))
    return message_to_text(net)


@st.composite
def fillers(draw: st.DrawFn) -> pb.FillerParameter:
    f = pb.FillerParameter()
    f.type = draw(st.sampled_from([*SPECS, *SPECS, "Xavier", "bogus", ""]))
    for name in ("value", "min", "max", "mean", "std", "gain", "a", "b"):
        if draw(st.integers(0, 2)) == 0:
            setattr(f, name, draw(st.one_of(st.sampled_from(INTERESTING_FLOATS),
                                            st.floats(-3, 3, width=32))))
    if draw(st.integers(0, 3)) == 0:
        f.sparse = draw(_small_ints(-(2**31), 2**31 - 1))
    if draw(st.integers(0, 2)) == 0:
        f.variance_norm = draw(st.sampled_from(list(pb.FillerParameter.VarianceNorm.values())))
    return f


@st.composite
def fill_shapes(draw: st.DrawFn) -> tuple[int, ...]:
    """Blob shapes for one fill: up to 6 axes, small sizes (some empty)."""
    dims = draw(st.lists(st.integers(0, 7), max_size=6))
    return tuple(dims)


def limited(strategy: st.SearchStrategy[Any], max_values: int = 4096
            ) -> st.SearchStrategy[Any]:
    return strategy.filter(lambda shape: math.prod(shape) <= max_values)




# ----------------------------------------------------------------- more CLI commands

_ARGPARSE_USAGE = re.compile(r"^(usage: |caffefill( \w+)?: error: )")


def check_fill_cli(filler_text: str, shape_text: str) -> str:
    """``caffefill fill --filler TEXT --shape DIMS`` with hostile text (no output file)."""
    argv = ["fill", "--filler", filler_text, "--shape", shape_text, "--seed", "3",
            "--max-memory", "96M"]
    with bounded():
        status, _, err = run_cli(argv)
    if status == 2 and err.startswith("usage: "):
        # argparse refused an argument: its own two lines, no traceback.
        if "Traceback" in err or not all(_ARGPARSE_USAGE.match(line) or line.startswith(" ")
                                         for line in err.splitlines() if line.strip()):
            raise Bug("argparse error looks wrong", f"{argv}: {err!r}")
        return "usage"
    check_cli_output(argv, status, err)
    return f"fill:{status}"


#: The text of the audit's note for a rule that raised (an internal error too).
RULE_FAILED = "(please report it)"


def check_audit(data: bytes) -> str:
    """``caffefill audit FILE``: findings or an error, never the catch-all, and no
    rule that fails (the note the engine writes for one counts as an internal error)."""
    with tempfile.TemporaryDirectory(prefix="caffefill-fuzz-") as tmp:
        net = Path(tmp) / "net.prototxt"
        net.write_bytes(data)
        argv = ["audit", str(net)]
        with bounded():
            status, out, err = run_cli(argv)
        if "internal error" in err or "Traceback" in err or status not in (0, 1, 2):
            raise Bug("audit failed", f"exit {status}: {err.strip()}")
        failed = [line for line in out.splitlines() if RULE_FAILED in line]
        if failed:
            raise Bug("an audit rule failed", failed[0])
        return f"audit:{status}"


def check_audit_and_show(text: str) -> str:
    """``audit`` (see :func:`check_audit`) and ``show`` / ``show --json`` on one net:
    no internal error, and strict JSON."""
    outcome = check_audit(text.encode("utf-8", "replace"))
    with tempfile.TemporaryDirectory(prefix="caffefill-fuzz-") as tmp:
        net = Path(tmp) / "net.prototxt"
        net.write_text(text, encoding="utf-8", errors="replace")
        for argv in (["show", str(net)], ["show", "--json", str(net)]):
            with bounded():
                status, out, err = run_cli(argv)
            check_cli_output(argv, status, err)
            if status == 0 and "--json" in argv:
                try:
                    json.loads(out, parse_constant=_refuse_constant)
                except ValueError as exc:
                    raise Bug("show --json is not strict JSON", str(exc)) from None
    return outcome


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} in the output")


@st.composite
def numeric_mutations(draw: st.DrawFn) -> str:
    """A net of the repository with one to three of its numbers (any numeric
    field) set to an extreme value the schema accepts or rejects."""
    text = draw(st.sampled_from(CORPUS))
    tokens = _tokens(text)
    numbers = [k for k, tok in enumerate(tokens) if _NUMBER_RE.match(tok)]
    extremes = st.one_of(st.sampled_from(INTERESTING_INTS).map(str),
                         st.sampled_from(INTERESTING_FLOATS).map(repr))
    for _ in range(draw(st.integers(1, 3))):
        if numbers:
            tokens[numbers[draw(st.integers(0, len(numbers) - 1))]] = draw(extremes)
    return "".join(tokens)


_WEIGHT_NET = (
    'name: "w"\n'
    'layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 2 dim: 3 '
    'dim: 4 dim: 4 } } }\n'
    'layer { name: "conv" type: "Convolution" bottom: "x" top: "c" convolution_param { '
    'num_output: 2 kernel_size: 3 weight_filler { type: "xavier" } } }\n'
    'layer { name: "prelu" type: "PReLU" bottom: "c" top: "c" prelu_param { '
    'channel_shared: true } }\n'
    'layer { name: "IP" type: "InnerProduct" bottom: "c" top: "y" inner_product_param { '
    'num_output: 3 weight_filler { type: "gaussian" std: 0.1 } } }\n')


def weight_samples(folder: Path) -> dict[str, Path]:
    """One small valid weights file per format (npy: a folder), written into ``folder``."""
    samples = {}
    for fmt, target in (("npz", "w.npz"), ("caffemodel", "w.caffemodel"), ("npy", "w_npy/"),
                        ("h5", "w.h5")):
        net = folder / f"w_{fmt}.prototxt"
        # HDF5 refuses '/' in a layer name; the others keep it.
        net.write_text(_WEIGHT_NET.replace("IP", "ip_1" if fmt == "h5" else "ip/1"),
                       encoding="utf-8")
        if fmt == "h5":
            try:
                import h5py  # noqa: F401
            except ImportError:
                continue
        status, _, err = run_cli(["init", str(net), "-o", f"{folder}/{target}", "--seed", "5",
                                  "--quiet"])
        assert status == 0, err
        samples[fmt] = folder / target.rstrip("/")
    return samples


@st.composite
def byte_mutations(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` with 1-4 byte-level mutations (flips, overwrites, cuts, insertions)."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        if not out:
            break
        i = draw(st.integers(0, len(out) - 1))
        op = draw(st.sampled_from(["flip", "overwrite", "truncate", "insert", "delete"]))
        if op == "flip":
            out[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "overwrite":
            chunk = draw(st.binary(min_size=1, max_size=8))
            out[i:i + len(chunk)] = chunk
        elif op == "truncate":
            del out[i:]
        elif op == "insert":
            out[i:i] = draw(st.binary(min_size=1, max_size=8))
        else:
            del out[i:i + draw(st.integers(1, 64))]
    return bytes(out)


def check_weights_file(fmt: str, good: Path, corrupt: dict[str, bytes]) -> str:
    """``caffefill diff`` between a valid file and a corrupted copy of it."""
    with tempfile.TemporaryDirectory(prefix="caffefill-fuzz-") as tmp:
        if fmt == "npy":
            bad = Path(tmp) / "bad_npy"
            bad.mkdir()
            for name in os.listdir(good):
                (bad / name).write_bytes((good / name).read_bytes())
        else:
            bad = Path(tmp) / f"bad.{fmt}"
        for name, data in corrupt.items():
            (bad / name if fmt == "npy" else bad).write_bytes(data)
        outcomes = []
        for argv in (["diff", str(good), str(bad)], ["diff", str(bad), str(good)]):
            with bounded():
                status, _, err = run_cli(argv)
            check_cli_output(argv, status, err, allowed=(0, 1, 2))
            outcomes.append(str(status))
        return "diff:" + ",".join(outcomes)


# ----------------------------------------------------------------- legacy syntax


def _v1_types() -> dict[str, int]:
    """V2 type string -> V1 LayerType number (the inverse of the upgrade's table)."""
    from caffefill.net.upgrade import _V1_TYPES

    return {v2: pb.V1LayerParameter.LayerType.Value(v1) for v1, v2 in _V1_TYPES.items() if v2}


_V1_PARAM_FIELDS = {fd.name for fd in pb.V1LayerParameter.DESCRIPTOR.fields
                    if fd.name.endswith("_param")}


@st.composite
def v1_nets(draw: st.DrawFn) -> str:
    """A structured net rewritten in V1 syntax (``layers { type: ENUM }``, net-level
    ``input``/``input_dim``, ``blobs_lr``/``weight_decay``)."""
    text = draw(structured_nets())
    v2 = read_net("v2", text=text).param  # the generator's own text always reads
    types = _v1_types()
    net = pb.NetParameter(name=v2.name)
    for layer in v2.layer:
        if layer.type == "Input" and _one_in(draw, 2) and len(layer.input_param.shape) == 1:
            net.input.extend(layer.top)
            dims = list(layer.input_param.shape[0].dim)
            if _one_in(draw, 2) or not all(-(2**31) <= d < 2**31 for d in dims):
                net.input_shape.add().dim.extend(dims)
            else:
                net.input_dim.extend([*dims, 1, 1, 1, 1][:4] if len(dims) <= 4 else dims)
            continue
        entry = net.layers.add()
        entry.name = layer.name
        entry.bottom.extend(layer.bottom)
        entry.top.extend(layer.top)
        entry.include.extend(layer.include)
        entry.exclude.extend(layer.exclude)
        entry.loss_weight.extend(layer.loss_weight)
        if layer.type in types:
            entry.type = types[layer.type]
        elif not _one_in(draw, 3):
            entry.type = pb.V1LayerParameter.RELU
        for fd, value in layer.ListFields():
            if fd.name in _V1_PARAM_FIELDS:
                getattr(entry, fd.name).CopyFrom(value)
        for spec in layer.param:
            entry.param.append(spec.name)
            if spec.HasField("lr_mult"):
                entry.blobs_lr.append(spec.lr_mult)
    if net.layers and _one_in(draw, 8):
        net.layer.add(name="mixed", type="ReLU")  # both fields: Caffe refuses
    return message_to_text(net)


@st.composite
def v0_nets(draw: st.DrawFn) -> str:
    """A V0 net: ``layers { layer { type: "conv" ... } bottom top }`` with random V0 fields,
    padding layers included."""
    from caffefill.net.upgrade import _V0_TYPES

    net = pb.NetParameter(name="v0")
    net.input.append("data")
    net.input_dim.extend(draw(st.lists(st.integers(1, 9), min_size=4, max_size=4)))
    previous = "data"
    for i in range(draw(st.integers(1, 5))):
        entry = net.layers.add()
        v0 = entry.layer
        v0.name = f"l{i}"
        v0.type = draw(st.sampled_from([*sorted(_V0_TYPES), "padding", "bogus"]))
        if v0.type == "conv" or v0.type == "pool":
            v0.kernelsize = draw(st.integers(1, 3))
            if v0.type == "conv":
                v0.num_output = draw(st.integers(1, 4))
        elif v0.type == "innerproduct":
            v0.num_output = draw(st.integers(1, 4))
        elif v0.type == "padding":
            v0.pad = draw(st.integers(0, 2))
        if _one_in(draw, 3):
            fill_message(draw, v0, 1, 3)
        entry.bottom.append(previous if not _one_in(draw, 10) else "undefined")
        top = f"t{i}"
        entry.top.append(top)
        previous = top
    return message_to_text(net)


def legacy_nets() -> st.SearchStrategy[str]:
    return st.one_of(v1_nets(), v0_nets())


@st.composite
def data_inputs(draw: st.DrawFn) -> dict[str, tuple[int, ...]]:
    """``--input`` shapes for the tops structured nets name (t<layer>_<top>, l<layer>):
    full shapes, one-record C,H,W shapes, and now and then hostile ones."""
    names = [f"t{i}_{j}" for i in range(7) for j in range(3)] + [f"l{i}" for i in range(7)]
    dims = st.one_of(st.integers(1, 9), _SHAPE_DIMS) if _one_in(draw, 4) else st.integers(1, 9)
    return draw(st.dictionaries(st.sampled_from(names),
                                st.lists(dims, min_size=1, max_size=5).map(tuple), max_size=4))
