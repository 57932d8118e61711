"""LSTM and RNN (Caffe builds and sets up an internal unrolled net), and the
LSTMUnit layer they unroll into.

RecurrentLayer::LayerSetUp builds a NetParameter with one InnerProduct per
weight use (``x_transform``, then per time step ``t = 1..T`` the hidden
transforms), whose params are shared by name (``W_hc``, ``W_hh``, ...), and
creates a ``Net`` from it.  Net::Init sets every unrolled layer up in order,
and each InnerProduct fills its own blobs at setup -- including the time-step
copies that are about to be replaced by the owner's blob when the sharing is
wired.  So the stream sees one fill per InnerProduct blob of the whole
unrolled net, in unrolled-net order; the recurrent layer's blobs are the
owners (first uses), in that same order.

* LSTM: ``x_transform`` (W_xc [4H, I], b_c [4H]), optionally
  ``W_xc_x_static`` (W_xc_static [4H, S]), then for each t ``transform_t``
  (W_hc [4H, H]).  Blobs: W_xc, b_c, (W_xc_static), W_hc.
* RNN: ``x_transform`` (W_xh [H, I], b_h [H]), optionally ``W_xh_x_static``
  (W_xh_static [H, S]), then for each t ``W_hh_h_{t-1}`` (W_hh [H, H]) and
  ``W_ho_h_t`` (W_ho [H, H], b_o [H]).  Blobs: W_xh, b_h, (W_xh_static),
  W_hh, W_ho, b_o.

Here ``I = prod(x.shape[2:])``, ``S = prod(x_static.shape[1:])``,
``H = num_output``.  The other unrolled layers (Input, Slice, Scale,
Eltwise, TanH, LSTMUnit, Concat, Split, Reduction) own no blobs.
"""

from __future__ import annotations

from ..registry import LayerContext, Traits, register
from ..spec import BlobSpec, DrawRuns, FillDraw, LayerSetup, Shape
from ._base import (
    Fill,
    blob_counts,
    canonical_axis,
    check,
    check_op,
    count,
    filler,
    i32,
    shape_string,
    show,
)


def _recurrent(ctx: LayerContext, type_name: str, num_recur: int, gates: int) -> LayerSetup:
    p = ctx.param.recurrent_param
    expose = bool(p.expose_hidden)
    exposed = num_recur if expose else 0
    blob_counts(ctx, type_name, min_bottom=2 + exposed, max_bottom=3 + exposed,
                exact_top=1 + exposed)
    x, cont = ctx.bottoms[0], ctx.bottoms[1]
    check_op(ctx, len(x), ">=", 2, "bottom[0]->num_axes() >= 2",
             f"{type_name} input must be (T, N, ...), got {show(x)}",
             "bottom[0] must have at least 2 axes -- (#timesteps, #streams, ...)")
    t_steps, n = x[0], x[1]
    check_op(ctx, len(cont), "==", 2, "bottom[1]->num_axes() == 2",
             f"{type_name} sequence indicators must be (T, N), got {show(cont)}",
             "bottom[1] must have exactly 2 axes -- (#timesteps, #streams)")
    check_op(ctx, t_steps, "==", cont[0], "T_ == bottom[1]->shape(0)",
             f"{type_name}: input {show(x)} and indicators {show(cont)} differ in time steps")
    check_op(ctx, n, "==", cont[1], "N_ == bottom[1]->shape(1)",
             f"{type_name}: input {show(x)} and indicators {show(cont)} differ in streams")
    static = len(ctx.bottoms) > 2 + exposed
    x_static: Shape = ()
    if static:
        x_static = ctx.bottoms[2]
        check_op(ctx, len(x_static), ">=", 1, "bottom[2]->num_axes() >= 1",
                 f"{type_name} static input must have an axis, got {show(x_static)}")
        check_op(ctx, n, "==", x_static[0], "N_ == bottom[2]->shape(0)",
                 f"{type_name} static input {show(x_static)} must have {n} streams first")
    hidden = i32(p.num_output)
    check_op(ctx, hidden, ">", 0, "num_output > 0", "recurrent_param.num_output must be positive",
             "num_output must be positive")
    out = gates * hidden
    # InnerProduct(axis 2) over x and InnerProduct(axis 1) over x_static.
    axis = canonical_axis(ctx, x, 2, "the unrolled net's input-transform axis")
    k_in = count(x, axis)
    k_static = count(x_static, canonical_axis(ctx, x_static, 1, "the static-input axis")) \
        if static else 0
    state = (1, n, hidden)
    if expose:
        first = 2 + (1 if static else 0)
        for j, b in enumerate(ctx.bottoms[first:]):
            check(ctx, tuple(b) == state,
                  f"{type_name} hidden-state input {first + j} must be {show(state)}, "
                  f"got {show(b)}",
                  f"recur_input_blobs_[j]->shape() == bottom[i]->shape() bottom[{first + j}] "
                  f"shape must match hidden state input shape: {shape_string(state)}")
    weight = filler(p, "weight_filler", "recurrent_param.weight_filler")
    bias = filler(p, "bias_filler", "recurrent_param.bias_filler")
    tops: list[Shape] = [(t_steps, n, hidden)]
    tops += [state] * exposed
    return _unrolled(type_name, t_steps, out, hidden, k_in, k_static, static, weight, bias, tops)


def _unrolled(type_name: str, t_steps: int, out: int, hidden: int, k_in: int, k_static: int,
              static: bool, weight: Fill, bias: Fill, tops: list[Shape]) -> LayerSetup:
    lstm = type_name == "LSTM"
    blobs: list[BlobSpec] = []
    # One draw per unrolled InnerProduct blob; the time steps after the first
    # repeat one pattern, kept once with its count (T can be up to 2**31).
    draws = DrawRuns()

    def own(shape: Shape, fill: Fill, role: str) -> None:
        blobs.append(BlobSpec(shape, fill.param, role, fill.field, fill.home))
        draws.append(FillDraw(shape, fill.param, len(blobs) - 1))

    x_name, b_name = ("W_xc", "b_c") if lstm else ("W_xh", "b_h")
    own((out, k_in), weight, x_name)
    own((out,), bias, b_name)
    if static:
        own((out, k_static), weight, x_name + "_static")
    if t_steps < 1:
        pass  # no time step: no recurrent weights (the model refuses empty inputs anyway)
    elif lstm:
        own((out, hidden), weight, "W_hc")
        draws.append(FillDraw((out, hidden), weight.param, None), t_steps - 1)
    else:
        own((hidden, hidden), weight, "W_hh")
        own((hidden, hidden), weight, "W_ho")
        own((hidden,), bias, "b_o")
        draws.append([FillDraw((hidden, hidden), weight.param, None),
                      FillDraw((hidden, hidden), weight.param, None),
                      FillDraw((hidden,), bias.param, None)], t_steps - 1)
    return LayerSetup(tops=tops, blobs=blobs, draws=draws)


@register("LSTM", traits=Traits("anchor", reads=("recurrent_param",)))
def lstm(ctx: LayerContext) -> LayerSetup:
    """LSTMLayer (see the module docstring for its unrolled fills)."""
    return _recurrent(ctx, "LSTM", 2, 4)


@register("RNN", traits=Traits("anchor", reads=("recurrent_param",)))
def rnn(ctx: LayerContext) -> LayerSetup:
    """RNNLayer (see the module docstring for its unrolled fills)."""
    return _recurrent(ctx, "RNN", 1, 1)


@register("LSTMUnit", traits=Traits("anchor"))
def lstm_unit(ctx: LayerContext) -> LayerSetup:
    """LSTMUnitLayer: (c_prev [1,N,H], gates [1,N,4H], cont [1,N]) -> c, h."""
    blob_counts(ctx, "LSTMUnit", exact_bottom=3, exact_top=2)
    c_prev, gates, cont = ctx.bottoms
    check(ctx, len(c_prev) >= 2, f"LSTMUnit's bottom 0 must be [1, N, H], got {show(c_prev)}",
          "bottom[0]->num_axes() >= 2")
    n = c_prev[1]
    for i, b in enumerate(ctx.bottoms):
        want = 2 if i == 2 else 3
        check_op(ctx, want, "==", len(b), "bottom[i]->num_axes()",
                 f"LSTMUnit's bottom {i} must have {want} axes, got {show(b)}")
        check_op(ctx, 1, "==", b[0], "1 == bottom[i]->shape(0)",
                 f"LSTMUnit's bottom {i} must hold a single time step, got {show(b)}")
        check_op(ctx, n, "==", b[1], "num_instances == bottom[i]->shape(1)",
                 f"LSTMUnit's bottom {i} {show(b)} does not have {n} streams")
    check_op(ctx, 4 * c_prev[2], "==", gates[2], "4 * hidden_dim_ == bottom[1]->shape(2)",
             f"LSTMUnit's gate input {show(gates)} must be 4x the cell size {c_prev[2]}")
    del cont
    return LayerSetup(tops=[c_prev, c_prev])
