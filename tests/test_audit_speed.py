"""What keeps ``caffefill audit`` quick: no numpy on its path (scalar float32
arithmetic in plain Python, exactly as numpy's float32 does it), and the same
findings whichever way the work is done."""

from __future__ import annotations

import math
import random
import struct
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from caffefill import float32
from caffefill.fillers import fill

DATA = Path(__file__).parent / "data"

#: Imports the command line, runs it, and prints the heavy modules it loaded.
_CHILD = """
import sys
import caffefill.audit.engine
caffefill.audit.engine.PARALLEL_MIN_WORK = 1 << 62  # every file in this process
from caffefill.cli import main
code = main(sys.argv[1:])
print(sorted(m for m in ("numpy", "caffefill._core", "importlib.metadata", "tomllib", "difflib",
                         "hashlib") if m in sys.modules))
raise SystemExit(code)
"""


def _loaded(*args: str) -> str:
    done = subprocess.run([sys.executable, "-c", _CHILD, *args], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode in (0, 1), done.stderr
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("net", [
    DATA / "audit" / "warnings.prototxt",
    DATA / "nets" / "lenet_input.prototxt",
])
def test_audit_imports_no_numpy(net: Path) -> None:
    """Nor the TOML parser (no configuration is read) nor difflib (no name to
    guess), nor the package metadata and hashlib (no SARIF)."""
    assert net.exists()
    assert _loaded("audit", "--isolated", str(net)) == "[]"


def test_audit_of_every_test_net_imports_no_numpy(tmp_path: Path) -> None:
    """Every layer model and every rule the test nets reach (pooling, sigmoid,
    tanh, bilinear kernels, SSD's priors, data layers' resize) in one process."""
    nets = sorted((DATA / "nets").glob("*.prototxt")) + sorted((DATA / "audit").glob("*.prototxt"))
    assert len(nets) > 5
    for i, net in enumerate(nets):
        (tmp_path / f"{i:03d}_{net.name}").write_bytes(net.read_bytes())
    (tmp_path / "ops.prototxt").write_text(_ACTIVATIONS)
    assert _loaded("audit", "--isolated", "--exit-zero", "--format", "json",
                   str(tmp_path)) == "[]"


_ACTIVATIONS = """
layer { name: "data" type: "Input" top: "data"
        input_param { shape { dim: 2 dim: 3 dim: 16 dim: 16 } } }
layer { name: "c1" type: "Convolution" bottom: "data" top: "c1"
        convolution_param { num_output: 4 kernel_size: 3 weight_filler { type: "xavier" } } }
layer { name: "s" type: "Sigmoid" bottom: "c1" top: "s" }
layer { name: "t" type: "TanH" bottom: "s" top: "t" }
layer { name: "e" type: "ELU" bottom: "t" top: "e" }
layer { name: "b" type: "BNLL" bottom: "e" top: "b" }
layer { name: "p" type: "Pooling" bottom: "b" top: "p"
        pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "up" type: "Deconvolution" bottom: "p" top: "up"
        convolution_param { num_output: 4 group: 4 kernel_size: 3 stride: 2
                            weight_filler { type: "bilinear" } } }
layer { name: "fc" type: "InnerProduct" bottom: "up" top: "fc"
        inner_product_param { num_output: 10 weight_filler { type: "msra" } } }
"""


def test_audit_findings_of_activations_and_pooling() -> None:
    """The signal model's integrals (plain Python) still see the rails and the
    bilinear kernel's build difference."""
    from caffefill.audit.context import AuditOptions
    from caffefill.audit.engine import audit_text

    report = audit_text("ops.prototxt", _ACTIVATIONS, AuditOptions())
    assert report.error is None
    assert "CF304" in {f.code for f in report.findings}


# ------------------------------------------------------------------ float32


def _samples(count: int) -> list[float]:
    """float32 values of every kind: random bit patterns (any magnitude,
    subnormals, infinities, NaN) and small integers and fractions."""
    rng = random.Random(1701)
    out = [0.0, -0.0, 1.0, -1.0, 2.0, 3.0, float(np.float32(0.1)), 16777216.0, 16777218.0,
           float32.FLT_MAX, -float32.FLT_MAX, math.inf, -math.inf, math.nan]
    while len(out) < count:
        if rng.random() < 0.5:
            out.append(struct.unpack("<f", struct.pack("<I", rng.getrandbits(32)))[0])
        else:
            out.append(float(np.float32(rng.randint(-5000, 5000) / rng.choice((1, 4, 10)))))
    return out


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) ==
                                                 math.copysign(1, b))


def test_f32_rounds_as_numpy() -> None:
    rng = random.Random(5)
    doubles = [rng.uniform(-1e39, 1e39) for _ in range(2000)]
    doubles += [math.ldexp(rng.uniform(-2.0, 2.0), rng.randint(-170, 140)) for _ in range(4000)]
    doubles += [3.4028235677973366e38, 3.4028235677973362e38, -3.40282357e38, 1e300, -1e300,
                math.inf, -math.inf, math.nan, 0.0, -0.0, 2.0 ** -150, 2.0 ** -149 * 1.5]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for value in doubles:
            assert _same(float32.f32(value), float(np.float32(value))), value


def test_float32_arithmetic_is_numpys() -> None:
    """+ - * / and sqrt of float32 values, each rounded once from the double
    result, are numpy's float32 operations bit for bit (division by zero and
    the root of a negative included)."""
    values = _samples(300)
    f = np.float32
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        for a in values:
            assert _same(float32.sqrt(a), float(np.sqrt(f(a)))), a
            assert _same(float32.next_up(a) if math.isfinite(a) else a,
                         float(np.nextafter(f(a), f(float32.FLT_MAX))) if math.isfinite(a)
                         else a), a
            for b in values[::7]:
                assert _same(float32.div(a, b), float(f(a) / f(b))), (a, b)
                assert _same(float32.f32(a * b), float(f(a) * f(b))), (a, b)
                assert _same(float32.f32(a + b), float(f(a) + f(b))), (a, b)
                assert _same(float32.f32(a - b), float(f(a) - f(b))), (a, b)


# ------------------------------------------------------------------ bilinear kernels


def test_bilinear_builds_differ_exactly_where_their_centres_do() -> None:
    """CF304 compares the two formulas' centres instead of filling both kernels:
    the same answer as the two real fills, for every size they were run for."""
    from caffefill.audit.rules.bilinear_profile import kernels_differ

    for size in range(1, 257):
        old, new = (fill('type: "bilinear"', (1, 1, size, size), seed=0, caffe=caffe)
                    for caffe in ("1.0", "master"))
        assert kernels_differ(size) == (not np.array_equal(old, new)), size


# ------------------------------------------------------------------ the workers


def test_a_share_whose_worker_dies_is_audited_here(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Every core audits a share, this process the first and a forked child
    each other; a child that dies before it sends its reports leaves its share
    to this process, and the reports come back complete, in the order given,
    as one by one."""
    import os

    from caffefill.audit import engine
    from caffefill.audit.context import AuditOptions

    nets = sorted((DATA / "audit").glob("*.prototxt"))
    assert len(nets) >= 4
    jobs = [(str(p), AuditOptions(), engine.EVERYTHING) for p in nets]
    monkeypatch.setattr(engine, "PARALLEL_MIN_WORK", 10**18)
    serial = engine.audit_paths(jobs)
    shares = [[str(nets[i]) for i in share]
              for share in engine._shares([os.path.getsize(p) for p in nets], 3)]
    assert all(shares)
    parent = os.getpid()
    real = engine._audit_job
    where: dict[str, int] = {}

    def job(item: tuple[str, AuditOptions, engine.Selection]) -> engine.FileReport:
        if os.getpid() != parent and item[0] in shares[1]:
            os._exit(3)  # this child dies: its share is audited again here
        report = real(item)
        if os.getpid() == parent:
            where[item[0]] = parent
        return report

    monkeypatch.setattr(engine, "PARALLEL_MIN_WORK", 1)
    monkeypatch.setattr(engine, "usable_cores", lambda: 3)
    monkeypatch.setattr(engine, "_audit_job", job)
    parallel = engine.audit_paths(jobs)
    assert [r.path for r in parallel] == [str(p) for p in nets]
    assert [(r.findings, r.error) for r in parallel] == [(r.findings, r.error) for r in serial]
    assert sorted(where) == sorted(shares[0] + shares[1])  # its own share, the dead one's
    assert not set(where) & set(shares[2])  # the third share came from its child


# ------------------------------------------------------------------ garbage


def test_auditing_a_file_leaves_no_reference_cycles() -> None:
    """What an audit keeps of a failure (a set-up error, a refused filler) keeps
    no traceback: its frames would hold the whole net in a reference cycle,
    which only the cyclic collector (paused while files are audited) frees."""
    import gc

    from caffefill.audit.context import AuditOptions
    from caffefill.audit.engine import audit_path
    from caffefill.errors import FillerError, kept

    nets = sorted(DATA.glob("**/*.prototxt"))
    assert len(nets) > 20
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        left = {}
        for net in nets:
            audit_path(str(net), AuditOptions())
            found = gc.collect()
            if found:
                left[net.name] = found
    finally:
        if enabled:
            gc.enable()
    assert left == {}
    try:
        try:
            raise ValueError("inner")
        except ValueError:
            raise FillerError("outer") from None
    except FillerError as exc:
        error = kept(exc)
    assert error.__traceback__ is None and error.__context__ is not None
    assert error.__context__.__traceback__ is None
