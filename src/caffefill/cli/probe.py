"""``caffefill probe``: watch the signal through the initialised net, layer by layer."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import CaffefillError
from .options import (
    EXIT_OK,
    add_common_args,
    add_data_arg,
    add_filler_args,
    add_net_args,
    add_profile_args,
    net_source,
    parse_seed,
    parse_threshold,
    print_warnings,
)

DESCRIPTION = """\
Run one forward and one backward pass of the net with the exact weights Caffe
starts from (on PyTorch: the caffefill[torch] extra) and print, per layer that
computes something (net order; data and Split layers left out), its output's
mean, std, min, max, the share that is dead (ReLU-family outputs equal to 0),
saturated (Sigmoid/TanH outputs within 0.01 of a rail: 0 or 1, -1 or 1) and not
finite, the std of the gradient it passes back to its input, and the ratio of
its output std to its input's (in a chain: to the previous layer's), flagged
when above --threshold or below its inverse. Inputs: --data, else each Input
top is a unit Gaussian from Caffe's stream right after the weights (as
caffefill.forward does), other data layers' first top a unit Gaussian and
their other tops (labels) zeros. The gradients are those of the net's loss
layers, or else of the sum of its outputs each times a fixed unit Gaussian
(numpy's generator seeded with --seed)."""

def _epilog() -> str:
    from ..probe.verdict import EXPLODE, SATURATED, VANISH

    return ("The verdict, over the layers that carry signal on (losses, accuracies and "
            "softmaxes left out), their output stds taken relative to the std of the first "
            "one's input (the net's input), first rule that holds: explodes - some output or "
            "gradient is not finite; saturates - over the deeper half of the Sigmoid/TanH "
            f"layers, on average {SATURATED:.0%} or more of the outputs are within 0.01 of a "
            f"rail; explodes - some layer's output std is above {EXPLODE:g} times the input's; "
            "vanishes - the median output std of the deepest quarter of the layers is below "
            f"{VANISH:g} times the input's (a weight layer started at zero at the end, and "
            "the constant layers after it, left out); steady otherwise.")


def add_parser(sub: Any) -> None:
    from ..probe.measure import DEFAULT_THRESHOLD

    p: argparse.ArgumentParser = sub.add_parser(
        "probe", help="watch the signal vanish, saturate or explode, layer by layer",
        description=DESCRIPTION, epilog=_epilog())
    add_common_args(p)
    add_net_args(p)
    add_filler_args(p)
    p.add_argument("--compare", nargs="+", default=None, metavar="FILLER",
                   help="probe the net once per FILLER (an override as --filler takes, "
                        "'PATTERN=FILLER' or FILLER alone for every layer; applied after the "
                        "--filler ones) with the same seed and inputs, and report and draw the "
                        "runs side by side; give NET before it")
    p.add_argument("--seed", type=parse_seed,
                   help="Caffe's random seed (default: a random one, printed)")
    add_data_arg(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--plot", metavar="OUT",
                   help="draw the histograms and the std by depth to OUT (.png or .svg; "
                        "the caffefill[plot] extra)")
    p.add_argument("--force", action="store_true", help="replace an existing --plot file")
    p.add_argument("--threshold", type=parse_threshold, default=DEFAULT_THRESHOLD,
                   metavar="X",
                   help=f"flag a layer whose output std is more than X times its input's, or "
                        f"less than 1/X (default {DEFAULT_THRESHOLD:g})")
    add_profile_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..overrides import parse_overrides
    from ..probe.measure import ProbeResult, import_torch, measure
    from ..probe.report import render_json, render_text

    import_torch()  # before any work: the one-line hint when the extra is missing
    plot_format = None
    if args.plot is not None:
        from ..probe.plot import check_output

        plot_format = check_output(args.plot, args.force)
    elif args.force:
        raise CaffefillError("--force only replaces a --plot file: give --plot")
    source = net_source(args)
    path, fillers = source.pop("path"), source.pop("fillers")
    variants: list[str | None] = list(args.compare) if args.compare else [None]
    parse_overrides([*fillers, *(v for v in variants if v)])  # all refused before any run
    results: list[ProbeResult] = []
    seed = args.seed
    for variant in variants:
        result = measure(path, seed=seed, data=args.data, caffe=args.caffe, boost=args.boost,
                         threshold=args.threshold, label=variant or "",
                         fillers=[*fillers, *([variant] if variant else [])], **source)
        if not results:
            print_warnings(result.warnings)
            if seed is None and args.solver is None:
                print(f"caffefill: no --seed given; using seed {result.seed}",
                      file=sys.stderr)
        seed = result.seed  # every variant draws from the same seed
        results.append(result)
    if args.json:
        print(render_json(results))
    else:
        print("\n\n".join(render_text(r) for r in results))
        if len(results) > 1:
            print("\n" + "\n".join(f"{r.label}: {r.verdict.name}" for r in results))
    if args.plot is not None and plot_format is not None:
        from ..probe.plot import write_plot

        write_plot(results, args.plot, plot_format, force=args.force)
        print(f"caffefill: drew {args.plot}", file=sys.stderr if args.json else sys.stdout)
    return EXIT_OK
