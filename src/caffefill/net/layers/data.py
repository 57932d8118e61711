"""Layers that produce the net's inputs (and HDF5Output, which writes data out).

``Input``, ``DummyData`` and ``MemoryData`` carry their shapes in the
prototxt (for ``Input`` and ``MemoryData`` a shape given by the user
replaces it, as reshaping the input blob in pycaffe would).  The others
read them from a data source (LMDB, image lists, HDF5 files, Python code)
that caffefill never opens: their top shapes come from
``ctx.inputs`` (the CLI's ``--input NAME=DIMS``), keyed by top name, or by
layer name for a single-top layer.  What a given shape means:

* a shape with other than 3 dims is the top's full shape, used as given
  (a full shape from the user always wins);
* for the image-like data top of ``Data``, ``ImageData``, ``WindowData``,
  ``AnnotatedData``, ``VideoData``, ``DenseImageData`` and ``ImageSegData``,
  3 dims ``C,H,W`` describe one stored record: the top becomes what Caffe's
  data transformer makes of it, ``[batch_size, C, crop or H, crop or W]``
  (with the SSD ``resize_param`` applied first);
* label tops default to what Caffe gives them once the batch size is known
  (``[batch_size]``; SSD's annotated label is the one-box placeholder
  ``[1, 1, 1, 8]`` since the real box count comes from the first record);
* ``ImageData``/``DenseImageData`` whose records are resized
  (``new_height``/``new_width``) or cropped need no input: the channel count
  follows ``is_color``.

Data layers own no blobs, but they take raw ``caffe_rng_rand()`` draws
from the net's stream at setup to seed their own generators, which shifts
every fill after them (:func:`seed_draws`, per Caffe 1.0's sources):

* the data transformer draws once each time it is initialised, when it
  needs randomness (``mirror``, or ``crop_size`` in TRAIN): once in
  ``BaseDataLayer::LayerSetUp`` and, for prefetching layers, once more
  before the prefetch thread starts;
* a prefetching layer draws the prefetch thread's seed;
* ``ImageData`` draws for ``shuffle`` and for ``rand_skip``; ``WindowData``
  for its prefetch generator when ``mirror`` or ``crop_size`` is set.

``HDF5Data`` shuffles with ``std::random_shuffle`` (not Caffe's stream) and
``Python`` layers are opaque: neither draws.  "TRAIN" is the layer's own
``phase`` when it sets one, else the net's.  No count depends on the data
source: ImageData shuffles its list with the generator it has just seeded
(one draw however long the list), and ``data_param.rand_skip`` draws nothing
in Caffe 1.0.

The Caffe of the DataReader era (``caffe="rc3"``: BVLC from August 2015 to
January 2017, and forks such as SSD) reads ``Data`` layers (and SSD's
``AnnotatedData``) through a ``DataReader`` built in the layer's
constructor; its body starts a thread at once, and starting a thread takes
one more ``caffe_rng_rand()`` (rc3's ``data_reader.cpp``,
``internal_thread.cpp``).  One body serves every reader of the same layer
name and source; within one net that is one body per layer.

``Data``, ``ImageData``, ``WindowData``, ``MemoryData``, ``HDF5Data`` and
``DummyData`` (V2, and V1 files with the legacy transform fields) are checked
against nets built by real Caffe 1.0 with Boost 1.74
(``tests/data/data_layers``), and ``Data`` against a Caffe of the rc3 era
(``tests/data/profiles/caffe-rc3``).  Of the forks' data layers, SSD's
``AnnotatedData`` and ``VideoData`` follow SSD's sources (weiliu89/caffe,
branch ssd: ``AnnotatedData`` reads through a DataReader, ``VideoData``
reads a camera or a video file and does not); ``DenseImageData`` (SegNet)
and ``ImageSegData`` (DeepLab, PSPNet) are modelled with the rules above,
unchecked.  :func:`guessed_draws` names the layers whose draws no profile
reproduces for certain.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ... import float32
from ..._proto import caffefill_pb2 as pb
from ...errors import NeededInput, NetError
from ...fillers import filler_spec
from ...float32 import f32
from ..registry import REGISTRY, LayerContext, Traits, register
from ..spec import Draw, FillDraw, LayerSetup, RandDraw, Shape
from ._base import (
    blob_counts,
    check,
    check_op,
    constant,
    i32,
    reshape_check,
    show,
)


def seed_draws(ctx: LayerContext, *, prefetching: bool = True, extra: int = 0,
               reason: str = "", reader: bool = False) -> list[Draw]:
    """The raw draws a data layer takes at setup (see the module docstring);
    ``reader``: the layer reads through a DataReader where the profile has one."""
    t = ctx.param.transform_param
    phase = ctx.param.phase if ctx.param.HasField("phase") else ctx.phase
    needs_rand = bool(t.mirror) or (phase == pb.TRAIN and i32(t.crop_size) > 0)
    body = int(reader and ctx.profile.data_reader)
    count = (2 if prefetching else 1) * int(needs_rand) + int(prefetching) + extra + body
    if count == 0:
        return []
    what = ["DataReader thread" if body else "", "transformer" if needs_rand else "",
            "prefetch thread" if prefetching else "", reason]
    return [RandDraw(count, ", ".join(w for w in what if w))]


def user_shape(ctx: LayerContext, index: int) -> Shape | None:
    """The shape given for top ``index`` (by top name, or by layer name for a
    layer with one top)."""
    tops = list(ctx.param.top)
    if index < len(tops) and tops[index] in ctx.inputs:
        return tuple(int(d) for d in ctx.inputs[tops[index]])
    if len(tops) == 1 and index == 0 and ctx.name in ctx.inputs:
        return tuple(int(d) for d in ctx.inputs[ctx.name])
    return None


def missing(ctx: LayerContext, index: int, dims: str = "N,C,H,W", one: str = "") -> NetError:
    """The error for a top whose shape lives outside the prototxt (``one``: what
    a ``C,H,W`` shape describes, "record" or "image", when one is accepted too)."""
    tops = list(ctx.param.top)
    name = tops[index] if index < len(tops) else f"{ctx.name}[{index}]"
    hint = f"{dims} (or C,H,W for one {one})" if one else dims
    return ctx.error(
        f"the shape of top '{name}' comes from {ctx.type}'s data source, which caffefill "
        f"does not read: pass --input {name}={hint}",
        needed_input=NeededInput(name, dims, one_record=bool(one)),
    )


def _given(ctx: LayerContext, index: int, dims: str = "N,C,H,W") -> Shape:
    shape = user_shape(ctx, index)
    if shape is None:
        raise missing(ctx, index, dims)
    return reshape_check(ctx, shape)


def _datum_top(
    ctx: LayerContext,
    index: int,
    batch: int,
    crop_h: int,
    crop_w: int,
    known: tuple[int, int, int] | None = None,
    resize: Callable[[int, int], tuple[int, int]] | None = None,
) -> Shape:
    """An image-like data top: the user's full shape, or one record ``C,H,W``
    (given, or ``known`` from the prototxt) batched and cropped as Caffe's
    data transformer does."""
    given = user_shape(ctx, index)
    if given is not None and len(given) != 3:
        return reshape_check(ctx, given)
    if given is not None:
        c, h, w = given
    elif known is not None:
        c, h, w = known
    else:
        raise missing(ctx, index, one="record")
    check_op(ctx, c, ">", 0, "datum_channels > 0",
             f"records of '{ctx.name}' must have channels, got {c}")
    if resize is not None and h > 0 and w > 0:
        h, w = resize(h, w)
    if h > 0:
        check_op(ctx, h, ">=", crop_h, "datum_height >= crop_size",
                 f"records of height {h} are smaller than the crop {crop_h}")
    if w > 0:
        check_op(ctx, w, ">=", crop_w, "datum_width >= crop_size",
                 f"records of width {w} are smaller than the crop {crop_w}")
    return reshape_check(ctx, (batch, c, crop_h or h, crop_w or w))


def _label_top(ctx: LayerContext, index: int, default: Shape) -> Shape:
    given = user_shape(ctx, index)
    return reshape_check(ctx, given if given is not None else default)


def _crop(t: pb.TransformationParameter) -> tuple[int, int]:
    if t.crop_size:
        return i32(t.crop_size), i32(t.crop_size)
    return i32(t.crop_h), i32(t.crop_w)


def _labelled(*params: str, fork: tuple[str, str | None] | None = None) -> Traits:
    """A data layer's traits: images first, then labels, from ``params`` and
    its ``transform_param``; ``fork``: see :attr:`Traits.fork_draws`."""
    return Traits("labelled_source", reads=(*params, "transform_param"), fork_draws=fork)


#: The forks whose data layers are modelled, and the profile of each one's Caffe.
_SSD = ("SSD (weiliu89/caffe)", "rc3")


# ----------------------------------------------------------------- in-prototxt


@register("Input", traits=Traits("source", reads=("input_param",)))
def input_layer(ctx: LayerContext) -> LayerSetup:
    """InputLayer: ``input_param.shape`` once, once per top, or (when it declares
    none) from ``--input``."""
    blob_counts(ctx, "Input", exact_bottom=0, min_top=1)
    shapes = list(ctx.param.input_param.shape)
    ntop = len(ctx.param.top)
    check(ctx, len(shapes) in (0, 1, ntop),
          f"input_param needs one shape, one per top ({ntop}), or none; got {len(shapes)}",
          f"num_shape == 0 || num_shape == 1 || num_shape == num_top Must specify 'shape' "
          f"once, once per top blob, or not at all: {ntop} tops vs. {len(shapes)} shapes.")
    tops = []
    for i in range(ntop):
        # A shape the prototxt declares wins: --input only fills in what is missing.
        if shapes:
            tops.append(reshape_check(ctx, shapes[0 if len(shapes) == 1 else i].dim))
            continue
        given = user_shape(ctx, i)
        if given is None:
            raise missing(ctx, i)
        tops.append(reshape_check(ctx, given))
    return LayerSetup(tops=tops)


@register("DummyData", traits=Traits("source", reads=("dummy_data_param",)))
def dummy_data(ctx: LayerContext) -> LayerSetup:
    """DummyDataLayer: shapes from the prototxt; at setup Caffe runs one
    forward pass that fills only the tops whose filler is ``constant`` (the
    others are refilled on every real forward pass).  Those fills are draws
    with ``blob=None`` in top order (a constant fill takes nothing from the
    stream, but its filler is still checked)."""
    blob_counts(ctx, "DummyData", exact_bottom=0, min_top=1)
    p = ctx.param.dummy_data_param
    ntop = len(ctx.param.top)
    nf = len(p.data_filler)
    check(ctx, nf in (0, 1, ntop),
          f"dummy_data_param needs 0, 1 or {ntop} data_filler(s), got {nf}",
          f"num_data_filler == 0 || num_data_filler == 1 || num_data_filler == num_top "
          f"Number of data fillers must be 0, 1 or equal to the number of tops: {ntop}; you "
          f"specified {nf} data fillers.")
    legacy_dims = bool(len(p.num) or len(p.channels) or len(p.height) or len(p.width))
    tops: list[Shape] = []
    if legacy_dims:
        check_op(ctx, 0, "==", len(p.shape), "0 == param.shape_size()",
                 "dummy_data_param: give shape or num/channels/height/width, not both",
                 "Both shape and legacy fields were specified")
        for field in ("num", "channels", "height", "width"):
            values = getattr(p, field)
            check(ctx, len(values) in (1, ntop),
                  f"dummy_data_param.{field} must be given once or once per top ({ntop})",
                  f"param.{field}_size() == 1 || param.{field}_size() == num_top Must specify "
                  f"'{field}' once, or once per top blob ({ntop}); specified {len(values)}.")
        _known_fillers(p)
        for i in range(ntop):
            dims = [i32(getattr(p, f)[0 if len(getattr(p, f)) == 1 else i])
                    for f in ("num", "channels", "height", "width")]
            tops.append(reshape_check(ctx, dims))
    else:
        check(ctx, len(p.shape) in (1, ntop),
              f"dummy_data_param.shape must be given once or once per top ({ntop})",
              f"param.shape_size() == 1 || param.shape_size() == num_top Must specify 'shape' "
              f"once, or once per top blob ({ntop}); specified {len(p.shape)}.")
        _known_fillers(p)
        for i in range(ntop):
            tops.append(reshape_check(ctx, p.shape[0 if len(p.shape) == 1 else i].dim))
    draws: list[Draw] = []
    for i, top in enumerate(tops):
        if nf == 0:
            f = constant(0.0)
        else:
            f = pb.FillerParameter()
            f.CopyFrom(p.data_filler[i if nf > 1 else 0])
        if f.type == "constant":
            draws.append(FillDraw(top, f, None))
    return LayerSetup(tops=tops, draws=draws)


def _known_fillers(p: pb.DummyDataParameter) -> None:
    """GetFiller for every data_filler at setup: an unknown type aborts Caffe there,
    even for a filler whose values are only drawn on a forward pass."""
    for f in p.data_filler:
        filler_spec(f.type)


@register("MemoryData", traits=_labelled("memory_data_param"))
def memory_data(ctx: LayerContext) -> LayerSetup:
    """MemoryDataLayer: [batch_size, channels, height, width] and [batch_size]."""
    blob_counts(ctx, "MemoryData", exact_bottom=0, exact_top=2)
    p = ctx.param.memory_data_param
    dims = (i32(p.batch_size), i32(p.channels), i32(p.height), i32(p.width))
    given = user_shape(ctx, 0)
    if given is not None:
        data = reshape_check(ctx, given)
    else:
        check_op(ctx, dims[0] * dims[1] * dims[2] * dims[3], ">", 0, "batch_size_ * size_ > 0",
                 "memory_data_param needs positive batch_size, channels, height and width "
                 f"(got {show(dims)}), or pass --input {ctx.param.top[0]}=N,C,H,W",
                 "batch_size, channels, height, and width must be specified and positive in "
                 "memory_data_param", needed_input=NeededInput(ctx.param.top[0], "N,C,H,W"))
        data = reshape_check(ctx, dims)
    return LayerSetup(tops=[data, _label_top(ctx, 1, (data[0],))],
                      draws=seed_draws(ctx, prefetching=False))


# ----------------------------------------------------------------- data sources


@register("Data", traits=_labelled("data_param"))
def data_layer(ctx: LayerContext) -> LayerSetup:
    """DataLayer (LMDB/LevelDB): records of unknown C,H,W; label [batch_size]."""
    blob_counts(ctx, "Data", exact_bottom=0, min_top=1, max_top=2)
    batch = i32(ctx.param.data_param.batch_size)
    ch, cw = _crop(ctx.param.transform_param)
    tops = [_datum_top(ctx, 0, batch, ch, cw)]
    if len(ctx.param.top) > 1:
        tops.append(_label_top(ctx, 1, (batch,)))
    return LayerSetup(tops=tops, draws=seed_draws(ctx, reader=True))


def _resize_fn(t: pb.TransformationParameter) -> Callable[[int, int], tuple[int, int]] | None:
    """SSD's InferNewSize for ``transform_param.resize_param``."""
    if not t.HasField("resize_param"):
        return None
    r = t.resize_param

    def resize(h: int, w: int) -> tuple[int, int]:
        height, width = i32(r.height), i32(r.width)
        if r.resize_mode == pb.ResizeParameter.FIT_SMALL_SIZE:
            # float arithmetic, as InferNewSize does it
            orig = float32.div(f32(w), f32(h))
            aspect = float32.div(f32(width), f32(height)) if height else math.inf
            if orig < aspect:
                height = int(float32.div(f32(width), orig))
            else:
                width = int(f32(orig * f32(height)))
        return height, width

    return resize


@register("AnnotatedData", traits=_labelled("data_param", "annotated_data_param", fork=_SSD))
def annotated_data(ctx: LayerContext) -> LayerSetup:
    """SSD AnnotatedDataLayer: data like Data's (after resize_param); the label
    is [1, 1, boxes, 8] for annotated records (one box assumed unless given),
    else [batch_size]."""
    blob_counts(ctx, "AnnotatedData", exact_bottom=0, min_top=1, max_top=2)
    batch = i32(ctx.param.data_param.batch_size)
    t = ctx.param.transform_param
    if t.HasField("resize_param") and t.resize_param.resize_mode == \
            pb.ResizeParameter.FIT_SMALL_SIZE:
        check_op(ctx, batch, "==", 1, "batch_size == 1",
                 "resize_mode FIT_SMALL_SIZE works with batch_size 1 only",
                 "Only support batch size of 1 for FIT_SMALL_SIZE.")
    ch, cw = _crop(t)
    tops = [_datum_top(ctx, 0, batch, ch, cw, None, _resize_fn(t))]
    if len(ctx.param.top) > 1:
        tops.append(_label_top(ctx, 1, (1, 1, 1, 8)))
    return LayerSetup(tops=tops, draws=seed_draws(ctx, reader=True))


def _set_together(ctx: LayerContext, param: str, first: str, a: int, second: str, b: int
                  ) -> None:
    """CHECK that two sizes (new_height and new_width, ...) are both 0 or both positive."""
    check(ctx, (a == 0 and b == 0) or (a > 0 and b > 0),
          f"{param}.{first} and {second} must be set together",
          f"({first} == 0 && {second} == 0) || ({first} > 0 && {second} > 0) Current "
          f"implementation requires {first} and {second} to be set at the same time.")


@register("ImageData", traits=_labelled("image_data_param"))
def image_data(ctx: LayerContext) -> LayerSetup:
    """ImageDataLayer: images of unknown size unless resized or cropped (then
    C is 3 for is_color, else 1); label [batch_size]."""
    blob_counts(ctx, "ImageData", exact_bottom=0, exact_top=2)
    p = ctx.param.image_data_param
    nh, nw = i32(p.new_height), i32(p.new_width)
    _set_together(ctx, "image_data_param", "new_height", nh, "new_width", nw)
    batch = i32(p.batch_size)
    check_op(ctx, batch, ">", 0, "batch_size > 0", "image_data_param.batch_size must be positive",
             "Positive batch size required")
    ch, cw = _crop(ctx.param.transform_param)
    known = None
    if (ch > 0 and cw > 0) or nh > 0:
        known = (3 if p.is_color else 1, nh, nw)
    data = _datum_top(ctx, 0, batch, ch, cw, known)
    extra = int(bool(p.shuffle)) + int(p.rand_skip > 0)
    return LayerSetup(tops=[data, _label_top(ctx, 1, (batch,))],
                      draws=seed_draws(ctx, extra=extra, reason="shuffle/rand_skip" if extra
                                       else ""))


@register("WindowData", traits=_labelled("window_data_param"))
def window_data(ctx: LayerContext) -> LayerSetup:
    """WindowDataLayer: [batch_size, C, crop_size, crop_size] (C from the
    window file: give ``--input data=C,H,W`` or the full shape); label
    [batch_size]."""
    blob_counts(ctx, "WindowData", exact_bottom=0, exact_top=2)
    crop = i32(ctx.param.transform_param.crop_size)
    check_op(ctx, crop, ">", 0, "crop_size > 0", "WindowData needs transform_param.crop_size")
    batch = i32(ctx.param.window_data_param.batch_size)
    data = _datum_top(ctx, 0, batch, crop, crop)
    t = ctx.param.transform_param
    window_rng = int(bool(t.mirror) or i32(t.crop_size) > 0)
    return LayerSetup(tops=[data, _label_top(ctx, 1, (batch,))],
                      draws=seed_draws(ctx, extra=window_rng, reason="window prefetch rng"))


@register("VideoData", traits=_labelled("data_param", "video_data_param", fork=_SSD))
def video_data(ctx: LayerContext) -> LayerSetup:
    """SSD VideoDataLayer: frames of unknown size; label [batch_size]."""
    blob_counts(ctx, "VideoData", exact_bottom=0, min_top=1)
    batch = i32(ctx.param.data_param.batch_size)
    t = ctx.param.transform_param
    ch, cw = _crop(t)
    tops = [_datum_top(ctx, 0, batch, ch, cw, None, _resize_fn(t))]
    if len(ctx.param.top) > 1:
        tops.append(_label_top(ctx, 1, (batch,)))
    return LayerSetup(tops=tops, draws=seed_draws(ctx))


@register("HDF5Data", traits=Traits("source", reads=("hdf5_data_param",)))
def hdf5_data(ctx: LayerContext) -> LayerSetup:
    """HDF5DataLayer: one top per dataset, [batch_size, dataset dims...]; the
    shapes are in the HDF5 files, so every top needs ``--input``."""
    blob_counts(ctx, "HDF5Data", exact_bottom=0, min_top=1)
    check(ctx, not ctx.param.HasField("transform_param"),
          "HDF5Data does not transform data: remove transform_param",
          "!this->layer_param_.has_transform_param() HDF5Data does not transform data.")
    return LayerSetup(tops=[_given(ctx, i, "N,...") for i in range(len(ctx.param.top))])


@register("Python", traits=Traits("unknown", reads=("python_param",)))
def python_layer(ctx: LayerContext) -> LayerSetup:
    """PythonLayer: its Python code sets the top shapes; every top needs
    ``--input``.  (Python layers' own blobs, if any, are not modelled.)"""
    return LayerSetup(tops=[_given(ctx, i, "DIMS") for i in range(len(ctx.param.top))])


def _seg_size(ctx: LayerContext, new_hw: tuple[int, int], crop: tuple[int, int],
              is_color: bool, batch: int, label_top: bool = True) -> list[Shape]:
    given = user_shape(ctx, 0)
    if given is not None and len(given) != 3:
        data = reshape_check(ctx, given)
    else:
        if given is not None:
            c, h, w = given
        elif (crop[0] > 0 and crop[1] > 0) or new_hw[0] > 0:
            c, h, w = 3 if is_color else 1, new_hw[0], new_hw[1]
        else:
            raise missing(ctx, 0, one="image")
        if crop[0] > 0 and crop[1] > 0:
            h, w = crop
        data = reshape_check(ctx, (batch, c, h, w))
    tops = [data]
    if label_top:
        tops.append(_label_top(ctx, 1, (data[0], 1, *data[2:])))
    return tops


@register("DenseImageData", traits=_labelled(
    "dense_image_data_param", fork=("SegNet (alexgkendall/caffe-segnet)", None)))
def dense_image_data(ctx: LayerContext) -> LayerSetup:
    """SegNet DenseImageDataLayer: image [b, C, h, w] and label image [b, 1, h, w]."""
    blob_counts(ctx, "DenseImageData", exact_bottom=0, exact_top=2)
    p = ctx.param.dense_image_data_param
    nh, nw = i32(p.new_height), i32(p.new_width)
    _set_together(ctx, "dense_image_data_param", "new_height", nh, "new_width", nw)
    chh, cww = i32(p.crop_height), i32(p.crop_width)
    _set_together(ctx, "dense_image_data_param", "crop_height", chh, "crop_width", cww)
    crop_size = i32(ctx.param.transform_param.crop_size)
    crop = (crop_size, crop_size) if crop_size > 0 else (chh, cww)
    return LayerSetup(tops=_seg_size(ctx, (nh, nw), crop, p.is_color, i32(p.batch_size)),
                      draws=seed_draws(ctx, extra=int(bool(p.shuffle)), reason="shuffle"))


@register("ImageSegData", traits=_labelled("image_data_param", fork=("DeepLab / PSPNet", None)))
def image_seg_data(ctx: LayerContext) -> LayerSetup:
    """PSPNet/DeepLab ImageSegDataLayer: image, label image, and image sizes
    [b, 1, 1, 2] (Caffe adds the third top when it is not named)."""
    named = len(ctx.param.top)
    blob_counts(ctx, "ImageSegData", exact_bottom=0, exact_top=3, num_tops=max(named, 3))
    t = ctx.param.transform_param
    check(ctx, (not t.HasField("crop_size") and t.HasField("crop_height")
                and t.HasField("crop_width"))
          or (not t.HasField("crop_height") and not t.HasField("crop_width")),
          "give transform_param.crop_size, or both crop_height and crop_width",
          "Must either specify crop_size or both crop_height and crop_width.")
    p = ctx.param.image_data_param
    if t.HasField("crop_height") and t.HasField("crop_width"):
        crop = (i32(t.crop_height), i32(t.crop_width))
    else:
        crop = (i32(t.crop_size), i32(t.crop_size))
    batch = i32(p.batch_size)
    tops = _seg_size(ctx, (i32(p.new_height), i32(p.new_width)), crop, p.is_color, batch)
    tops.append(_label_top(ctx, 2, (tops[0][0], 1, 1, 2)))
    extra = int(bool(p.shuffle)) + int(p.rand_skip > 0)
    return LayerSetup(tops=tops, draws=seed_draws(ctx, extra=extra, reason="shuffle/rand_skip"))


@register("HDF5Output", traits=Traits("sink", reads=("hdf5_output_param",)))
def hdf5_output(ctx: LayerContext) -> LayerSetup:
    """HDF5OutputLayer: writes data and label; no tops."""
    blob_counts(ctx, "HDF5Output", exact_bottom=2, exact_top=0)
    return LayerSetup(tops=[])


# ----------------------------------------------------------------- forks' draws

def guessed_draws(layer_type: str, param: pb.LayerParameter, caffe: str) -> str | None:
    """Why the draws of a fork's data layer are a guess under the profile
    ``caffe``, or None when its fork's sources and the profile agree."""
    known = REGISTRY.get(layer_type)
    if known is None or known.traits.fork_draws is None:
        return None
    fork, era = known.traits.fork_draws
    if layer_type == "VideoData" and not param.HasField("data_param"):
        # TSN's VideoData (yjxiong/caffe) takes video_data_param { source,
        # batch_size, new_length, num_segments, ... }; it comes from a Caffe
        # of early 2015 whose threads draw no seed and that no profile models.
        return ("VideoData without data_param looks like TSN's (yjxiong/caffe), whose "
                "fields and draws differ from SSD's VideoData modelled here; TSN's Caffe "
                "matches no profile, so the draws of this net are a guess")
    if era is None:
        return (f"{layer_type} comes from {fork}; its draws follow Caffe 1.0's data "
                "layers, unchecked against that fork's sources: they are a guess")
    if era != caffe:
        return (f"{layer_type} comes from {fork}, a Caffe of the {era} era: under "
                f"--caffe {caffe} its draws are a guess (use --caffe {era})")
    return None
