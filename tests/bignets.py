"""Large synthetic nets, as prototxt text, for the scaling tests and
``tools/bench_scale.py``: each family grows one dimension of a net (layers
in a chain, readers of one top, bottoms of one layer, tops of one layer,
layers rewriting one top in place, walks through long pass-through tails).
"""

from __future__ import annotations

from collections.abc import Callable

_INPUT = 'layer {{ name: "data" type: "Input" top: "{top}" input_param {{ shape {{ {dims} }} }} }}'


def _input(top: str, *dims: int) -> str:
    return _INPUT.format(top=top, dims=" ".join(f"dim: {d}" for d in dims))


def _ip(name: str, bottom: str, top: str, filler: str = 'type: "gaussian" std: 0.5',
        extra: str = "") -> str:
    return (f'layer {{ name: "{name}" type: "InnerProduct" bottom: "{bottom}" top: "{top}" '
            f'{extra}inner_product_param {{ num_output: 4 weight_filler {{ {filler} }} }} }}')


def chain(n: int) -> str:
    """``n`` InnerProduct layers one after the other (the signal pass's trail)."""
    return "\n".join([_input("x0", 1, 4), *(_ip(f"ip{i}", f"x{i}", f"x{i + 1}")
                                           for i in range(n))])


def fan_out(n: int) -> str:
    """One top read by ``n`` layers (Caffe's automatic Split gets ``n`` tops)."""
    return "\n".join([_input("x", 1, 4), *(
        f'layer {{ name: "r{i}" type: "ReLU" bottom: "x" top: "y{i}" }}' for i in range(n))])


def wide_concat(n: int) -> str:
    """``n`` layers reading one top, then one Concat of all their tops."""
    bottoms = " ".join(f'bottom: "y{i}"' for i in range(n))
    return "\n".join([fan_out(n), f'layer {{ name: "cat" type: "Concat" {bottoms} top: "z" }}'])


def many_tops(n: int) -> str:
    """One Slice layer with ``n`` tops."""
    tops = " ".join(f'top: "y{i}"' for i in range(n))
    return "\n".join([_input("x", 1, n), f'layer {{ name: "s" type: "Slice" bottom: "x" {tops} '
                                         f'slice_param {{ axis: 1 }} }}'])


def in_place(n: int) -> str:
    """A weight layer, then ``n`` layers rewriting its top in place."""
    return "\n".join([_input("x", 1, 4), _ip("ip", "x", "y", 'type: "xavier"'), *(
        f'layer {{ name: "r{i}" type: "{"ReLU" if i % 2 else "Dropout"}" bottom: "y" top: "y" }}'
        for i in range(n))])


def long_tail(n: int) -> str:
    """``n`` xavier convolutions of one input, one Concat, then ``n`` poolings:
    each convolution's walk to its activation goes through the whole tail."""
    conv = ('layer {{ name: "c{i}" type: "Convolution" bottom: "x" top: "y{i}" convolution_param '
            '{{ num_output: 1 kernel_size: 1 weight_filler {{ type: "xavier" }} }} }}')
    pool = ('layer {{ name: "p{i}" type: "Pooling" bottom: "p{i}" top: "p{j}" pooling_param '
            '{{ pool: MAX kernel_size: 1 }} }}')
    bottoms = " ".join(f'bottom: "y{i}"' for i in range(n))
    return "\n".join([_input("x", 1, 4, 1, 1), *(conv.format(i=i) for i in range(n)),
                      f'layer {{ name: "cat" type: "Concat" {bottoms} top: "p0" }}',
                      *(pool.format(i=i, j=i + 1) for i in range(n)),
                      f'layer {{ name: "act" type: "ReLU" bottom: "p{n}" top: "out" }}'])


FAMILIES: dict[str, Callable[[int], str]] = {
    "chain": chain, "fan-out": fan_out, "wide-concat": wide_concat, "many-tops": many_tops,
    "in-place": in_place, "long-tail": long_tail,
}
