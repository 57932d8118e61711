#!/usr/bin/env python3
"""Long fuzz runs of caffefill: many inputs per generator, every distinct bug reported.

    PYTHONPATH=src python3 tools/fuzz.py --examples 20000
    PYTHONPATH=src python3 tools/fuzz.py --examples 2000 --targets nets,cli --seed 7

The generators and oracles are the ones of tests/test_fuzz.py (defined in
tests/fuzzing.py); the test suite runs a few of each with a fixed seed
(``CAFFEFILL_FUZZ_EXAMPLES`` raises its count).  Unlike the tests, this
tool does not stop at the first failure: it keeps going, groups failures by
kind and shows the shortest input of each.  Exit status 1 when anything
was found.
"""

from __future__ import annotations

import argparse
import faulthandler
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.append(str(ROOT / "src"))  # an installed caffefill (or PYTHONPATH) comes first

import fuzzing  # noqa: E402
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import seed as hypothesis_seed  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from caffefill._proto import caffefill_pb2 as pb  # noqa: E402

_SAMPLES = tempfile.TemporaryDirectory(prefix="caffefill-fuzz-samples-")


def _targets() -> dict[str, tuple[st.SearchStrategy[Any], Callable[[Any], str]]]:
    """name -> (strategy of one input, oracle returning its outcome)."""
    def pipeline(data: Any) -> str:
        text, phase, profile, *inputs = data
        return fuzzing.check_pipeline(text, phase=phase, profile=profile,
                                      inputs=inputs[0] if inputs else None).outcome

    def layer(data: Any) -> str:
        param, bottoms, inputs = data
        return fuzzing.check_layer_setup(param, bottoms, inputs=inputs)

    def filler(data: Any) -> str:
        param, shape, profile = data
        return fuzzing.check_fill(param, shape, profile)

    def fill_cli(data: Any) -> str:
        return fuzzing.check_fill_cli(*data)

    def weights(data: Any) -> str:
        fmt, corrupt = data
        return fuzzing.check_weights_file(fmt, samples[fmt], corrupt)

    samples = fuzzing.weight_samples(Path(_SAMPLES.name))

    def corrupt(fmt: str) -> st.SearchStrategy[Any]:
        path = samples[fmt]
        if fmt == "npy":
            names = sorted(p.name for p in path.iterdir())
            return st.sampled_from(names).flatmap(lambda n: fuzzing.byte_mutations(
                (path / n).read_bytes()).map(lambda b: (fmt, {n: b})))
        return fuzzing.byte_mutations(path.read_bytes()).map(lambda b: (fmt, {"": b}))

    phases = st.sampled_from(["TEST", "TRAIN"])
    profiles = st.sampled_from(fuzzing.PROFILES)
    return {
        "bytes": (st.tuples(st.binary(max_size=3000), phases, profiles), pipeline),
        "text": (st.tuples(st.text(max_size=500), phases, profiles), pipeline),
        "soup": (st.tuples(fuzzing.token_soups(), phases, profiles), pipeline),
        "mutate": (st.tuples(fuzzing.mutated_prototxts(), phases, profiles), pipeline),
        "nets": (st.tuples(fuzzing.structured_nets(), phases, profiles, fuzzing.data_inputs()),
                 pipeline),
        "legacy": (st.tuples(fuzzing.legacy_nets(), phases, profiles), pipeline),
        "layers": (fuzzing.layer_cases(), layer),
        "fillers": (st.tuples(fuzzing.fillers(), fuzzing.limited(fuzzing.fill_shapes()),
                              profiles), filler),
        "fillcli": (st.tuples(st.one_of(fuzzing.token_soups(),
                                        fuzzing.fillers().map(str)),
                              st.one_of(st.text(max_size=12), st.lists(
                                  st.sampled_from(["0", "1", "3", "-1", "x", "", "2147483647",
                                                   "99999999999999999999", " 4"]),
                                  max_size=5).map(",".join))), fill_cli),
        "weights": (st.sampled_from(sorted(samples)).flatmap(corrupt), weights),
        "audit": (st.one_of(fuzzing.structured_nets(), fuzzing.mutated_prototxts(),
                            fuzzing.token_soups()).map(lambda t: t.encode("utf-8", "replace")),
                  fuzzing.check_audit),
        "numbers": (fuzzing.numeric_mutations(), fuzzing.check_audit_and_show),
        "cli": (st.one_of(fuzzing.structured_nets(), fuzzing.mutated_prototxts(),
                          fuzzing.token_soups()).map(lambda t: t.encode("utf-8", "replace")),
                fuzzing.check_cli),
    }


def _size(value: Any) -> int:
    return len(repr(value))


def run_target(name: str, strategy: st.SearchStrategy[Any], oracle: Callable[[Any], str],
               examples: int, seed: int) -> tuple[int, Counter[str], dict[str, tuple[Any, str]]]:
    outcomes: Counter[str] = Counter()
    bugs: dict[str, tuple[Any, str]] = {}
    count = 0

    @hypothesis_seed(seed)
    @settings(max_examples=examples, deadline=None, database=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(strategy)
    def run(data: Any) -> None:
        nonlocal count
        count += 1
        try:
            outcomes[oracle(data)] += 1
        except fuzzing.Bug as bug:
            outcomes["BUG"] += 1
            best = bugs.get(bug.kind)
            if best is None or _size(data) < _size(best[0]):
                bugs[bug.kind] = (data, bug.detail)
        except fuzzing.Hang as hang:
            outcomes["HANG"] += 1
            best = bugs.get("hang")
            if best is None or _size(data) < _size(best[0]):
                bugs["hang"] = (data, str(hang))

    try:
        run()
    except KeyboardInterrupt:
        outcomes["INTERRUPTED"] += 1
    return count, outcomes, bugs


def main(argv: list[str] | None = None) -> int:
    targets = _targets()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000, help="inputs per target")
    parser.add_argument("--targets", default=",".join(targets),
                        help=f"comma-separated, from: {', '.join(targets)}")
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100000)
    args = parser.parse_args(argv)
    faulthandler.enable()
    total = 0
    found = 0
    print(f"caffefill fuzz: seed {args.seed}, {args.examples} inputs per target")
    for name in args.targets.split(","):
        strategy, oracle = targets[name]
        start = time.monotonic()
        count, outcomes, bugs = run_target(name, strategy, oracle, args.examples, args.seed)
        elapsed = time.monotonic() - start
        total += count
        found += len(bugs)
        top = ", ".join(f"{k} {v}" for k, v in outcomes.most_common(8))
        print(f"{name:8s} {count:7d} inputs in {elapsed:6.1f} s: {top}")
        for kind, (data, detail) in sorted(bugs.items()):
            shown = repr(data)
            shown = shown if len(shown) < 1500 else shown[:1500] + "..."
            print(f"  BUG {kind}\n    input: {shown}\n    {detail[:3000]}")
        if outcomes["INTERRUPTED"]:
            break
    print(f"total: {total} inputs, {found} distinct bug kind(s)")
    return 1 if found else 0


if __name__ == "__main__":
    pb.NetParameter()  # fail early if the generated module is missing
    sys.exit(main())
