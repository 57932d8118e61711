"""Caffe's upgrade of legacy net definitions, step for step.

Caffe 1.0 (``UpgradeNetAsNeeded`` in ``upgrade_proto.cpp``) runs these steps,
each only when the net needs it, in this order:

1. V0 -> V1: ``layers { layer { type: "conv" ... } }`` entries become V1
   ``layers { type: CONVOLUTION convolution_param { ... } }``; ``padding``
   layers are folded into the conv/pool layer that reads them.  Only the
   net's ``name``, ``input``, ``input_dim`` and ``force_backward`` survive.
2. data transformation: ``scale``/``mean_file``/``crop_size``/``mirror`` of
   V1 DATA/IMAGE_DATA/WINDOW_DATA layers move into ``transform_param``.
3. V1 -> V2: ``layers`` entries become ``layer`` entries with type strings;
   ``blobs_lr``/``weight_decay``/``param``/``blob_share_mode`` become
   ``ParamSpec``; the per-layer parameter messages are copied.
4. inputs: ``input`` + ``input_shape``/``input_dim`` become a layer named
   "input" of type "Input", put first.
5. BatchNorm: a BatchNorm layer with exactly three ``param`` specs gets
   ``lr_mult: 0`` and ``decay_mult: 0`` on all three (the specs are kept).

Where Caffe aborts (``LOG(FATAL)``/``CHECK``), :func:`upgrade_net` raises a
NetError located at the layer; where Caffe logs an error and carries on, a
warning is recorded.  :func:`upgraded_text` prints the result the way
Caffe's ``upgrade_net_proto_text`` does (protobuf's C++ text printer).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from .._proto import caffefill_pb2 as pb
from .._proto import is_repeated
from ..errors import CaffefillError, NetError
from .reader import Position, ReadWarning, SourceNet
from .reader.printer import message_to_text

__all__ = [
    "UpgradedNet",
    "message_to_text",
    "net_needs_upgrade",
    "upgrade_net",
    "upgraded_text",
]

_UNKNOWN: Position = (0, 0)
#: ('layer' or 'layers', index in that list of the source net).
Origin = tuple[str, int]

# ---------------------------------------------------------------- result


@dataclass
class UpgradedNet:
    """A net in the current (V2) format, with the position of each layer.

    ``positions`` is aligned with ``param.layer``: the ``layer``/``layers``
    entry a layer came from, or the first ``input`` field for the generated
    Input layer; ``(0, 0)`` when unknown.  ``was_legacy`` is 'V0', 'V1' or
    None.  ``notes`` says in words what was upgraded; ``warnings`` holds what
    Caffe logs as an error but accepts (a V0 field that does not apply to the
    layer type, say).
    """

    path: str
    param: pb.NetParameter
    positions: list[Position] = field(default_factory=list)
    was_legacy: str | None = None
    notes: list[str] = field(default_factory=list)
    warnings: list[ReadWarning] = field(default_factory=list)
    #: Aligned with ``param.layer``: ``('layer', i)`` or ``('layers', i)``, the
    #: entry of the source net a layer came from (the indices of
    #: ``SourceNet.filler_blocks``), or None for the generated Input layer.
    origins: list[Origin | None] = field(default_factory=list)


# ---------------------------------------------------------------- "needs" tests


def _needs_v0(net: pb.NetParameter) -> bool:
    return any(entry.HasField("layer") for entry in net.layers)


def _needs_v1(net: pb.NetParameter) -> bool:
    return len(net.layers) > 0


_DATA_KINDS = {
    pb.V1LayerParameter.DATA: "data_param",
    pb.V1LayerParameter.IMAGE_DATA: "image_data_param",
    pb.V1LayerParameter.WINDOW_DATA: "window_data_param",
}
_TRANSFORM_FIELDS = ("scale", "mean_file", "crop_size", "mirror")


def _needs_data(net: pb.NetParameter) -> bool:
    for entry in net.layers:
        param_name = _DATA_KINDS.get(entry.type)
        if param_name is not None:
            params = getattr(entry, param_name)
            if any(params.HasField(name) for name in _TRANSFORM_FIELDS):
                return True
    return False


def _needs_input(net: pb.NetParameter) -> bool:
    return len(net.input) > 0


def _needs_batch_norm(net: pb.NetParameter) -> bool:
    return any(layer.type == "BatchNorm" and len(layer.param) == 3 for layer in net.layer)


def net_needs_upgrade(net: pb.NetParameter) -> bool:
    """Caffe's ``NetNeedsUpgrade``: whether any upgrade step applies."""
    return (_needs_v0(net) or _needs_v1(net) or _needs_data(net) or _needs_input(net)
            or _needs_batch_norm(net))


# ---------------------------------------------------------------- the upgrader


def _check_failed(expression: str, lhs: int, rhs: int, note: str) -> str:
    return f"Check failed: {expression} ({lhs} vs. {rhs}) {note}"


# V0 type string -> V1 LayerType enum name (UpgradeV0LayerType).
_V0_TYPES = {
    "accuracy": "ACCURACY", "bnll": "BNLL", "concat": "CONCAT", "conv": "CONVOLUTION",
    "data": "DATA", "dropout": "DROPOUT", "euclidean_loss": "EUCLIDEAN_LOSS",
    "flatten": "FLATTEN", "hdf5_data": "HDF5_DATA", "hdf5_output": "HDF5_OUTPUT",
    "im2col": "IM2COL", "images": "IMAGE_DATA", "infogain_loss": "INFOGAIN_LOSS",
    "innerproduct": "INNER_PRODUCT", "lrn": "LRN",
    "multinomial_logistic_loss": "MULTINOMIAL_LOGISTIC_LOSS", "pool": "POOLING",
    "relu": "RELU", "sigmoid": "SIGMOID", "softmax": "SOFTMAX",
    "softmax_loss": "SOFTMAX_LOSS", "split": "SPLIT", "tanh": "TANH",
    "window_data": "WINDOW_DATA",
}

# V0 field -> (name in Caffe's log message, {V0 type: (V1 param message, field, how)}).
# ``how`` is "set" (singular), "add" (repeated) or "copy" (a sub-message).  The
# type "*" applies to every layer type.
_Target = tuple[str, str, str]
_V0_FIELDS: list[tuple[str, str, dict[str, _Target]]] = [
    ("num_output", "num_output", {
        "conv": ("convolution_param", "num_output", "set"),
        "innerproduct": ("inner_product_param", "num_output", "set")}),
    ("biasterm", "biasterm", {
        "conv": ("convolution_param", "bias_term", "set"),
        "innerproduct": ("inner_product_param", "bias_term", "set")}),
    ("weight_filler", "weight_filler", {
        "conv": ("convolution_param", "weight_filler", "copy"),
        "innerproduct": ("inner_product_param", "weight_filler", "copy")}),
    ("bias_filler", "bias_filler", {
        "conv": ("convolution_param", "bias_filler", "copy"),
        "innerproduct": ("inner_product_param", "bias_filler", "copy")}),
    ("pad", "pad", {
        "conv": ("convolution_param", "pad", "add"),
        "pool": ("pooling_param", "pad", "set")}),
    ("kernelsize", "kernelsize", {
        "conv": ("convolution_param", "kernel_size", "add"),
        "pool": ("pooling_param", "kernel_size", "set")}),
    ("group", "group", {"conv": ("convolution_param", "group", "set")}),
    ("stride", "stride", {
        "conv": ("convolution_param", "stride", "add"),
        "pool": ("pooling_param", "stride", "set")}),
    ("pool", "pool", {"pool": ("pooling_param", "pool", "set")}),
    ("dropout_ratio", "dropout_ratio", {"dropout": ("dropout_param", "dropout_ratio", "set")}),
    ("local_size", "local_size", {"lrn": ("lrn_param", "local_size", "set")}),
    ("alpha", "alpha", {"lrn": ("lrn_param", "alpha", "set")}),
    ("beta", "beta", {"lrn": ("lrn_param", "beta", "set")}),
    ("k", "k", {"lrn": ("lrn_param", "k", "set")}),
    ("source", "source", {
        "data": ("data_param", "source", "set"),
        "hdf5_data": ("hdf5_data_param", "source", "set"),
        "images": ("image_data_param", "source", "set"),
        "window_data": ("window_data_param", "source", "set"),
        "infogain_loss": ("infogain_loss_param", "source", "set")}),
    ("scale", "scale", {"*": ("transform_param", "scale", "set")}),
    ("meanfile", "meanfile", {"*": ("transform_param", "mean_file", "set")}),
    ("batchsize", "batchsize", {
        "data": ("data_param", "batch_size", "set"),
        "hdf5_data": ("hdf5_data_param", "batch_size", "set"),
        "images": ("image_data_param", "batch_size", "set"),
        "window_data": ("window_data_param", "batch_size", "set")}),
    ("cropsize", "cropsize", {"*": ("transform_param", "crop_size", "set")}),
    ("mirror", "mirror", {"*": ("transform_param", "mirror", "set")}),
    ("rand_skip", "rand_skip", {
        "data": ("data_param", "rand_skip", "set"),
        "images": ("image_data_param", "rand_skip", "set")}),
    ("shuffle_images", "shuffle", {"images": ("image_data_param", "shuffle", "set")}),
    ("new_height", "new_height", {"images": ("image_data_param", "new_height", "set")}),
    ("new_width", "new_width", {"images": ("image_data_param", "new_width", "set")}),
    ("concat_dim", "concat_dim", {"concat": ("concat_param", "concat_dim", "set")}),
    ("det_fg_threshold", "det_fg_threshold", {
        "window_data": ("window_data_param", "fg_threshold", "set")}),
    ("det_bg_threshold", "det_bg_threshold", {
        "window_data": ("window_data_param", "bg_threshold", "set")}),
    ("det_fg_fraction", "det_fg_fraction", {
        "window_data": ("window_data_param", "fg_fraction", "set")}),
    ("det_context_pad", "det_context_pad", {
        "window_data": ("window_data_param", "context_pad", "set")}),
    ("det_crop_mode", "det_crop_mode", {
        "window_data": ("window_data_param", "crop_mode", "set")}),
    ("hdf5_output_param", "hdf5_output_param", {
        "hdf5_output": ("hdf5_output_param", "", "copy")}),
]
# V0 fields Caffe's upgrade reads without condition (the rest it ignores).
_V0_HANDLED = {"name", "type", "blobs", "blobs_lr", "weight_decay"} | {
    name for name, _, _ in _V0_FIELDS}

# V1 LayerType enum name -> V2 type string (UpgradeV1LayerType).
_V1_TYPES = {
    "NONE": "", "ABSVAL": "AbsVal", "ACCURACY": "Accuracy", "ARGMAX": "ArgMax",
    "BNLL": "BNLL", "CONCAT": "Concat", "CONTRASTIVE_LOSS": "ContrastiveLoss",
    "CONVOLUTION": "Convolution", "DECONVOLUTION": "Deconvolution", "DATA": "Data",
    "DROPOUT": "Dropout", "DUMMY_DATA": "DummyData", "EUCLIDEAN_LOSS": "EuclideanLoss",
    "ELTWISE": "Eltwise", "EXP": "Exp", "FLATTEN": "Flatten", "HDF5_DATA": "HDF5Data",
    "HDF5_OUTPUT": "HDF5Output", "HINGE_LOSS": "HingeLoss", "IM2COL": "Im2col",
    "IMAGE_DATA": "ImageData", "INFOGAIN_LOSS": "InfogainLoss",
    "INNER_PRODUCT": "InnerProduct", "LRN": "LRN", "MEMORY_DATA": "MemoryData",
    "MULTINOMIAL_LOGISTIC_LOSS": "MultinomialLogisticLoss", "MVN": "MVN",
    "POOLING": "Pooling", "POWER": "Power", "RELU": "ReLU", "SIGMOID": "Sigmoid",
    "SIGMOID_CROSS_ENTROPY_LOSS": "SigmoidCrossEntropyLoss", "SILENCE": "Silence",
    "SOFTMAX": "Softmax", "SOFTMAX_LOSS": "SoftmaxWithLoss", "SPLIT": "Split",
    "SLICE": "Slice", "TANH": "TanH", "WINDOW_DATA": "WindowData", "THRESHOLD": "Threshold",
}

# The V1 parameter messages UpgradeV1LayerParameter copies, in its order.
_V1_PARAMS = (
    "accuracy_param", "argmax_param", "concat_param", "contrastive_loss_param",
    "convolution_param", "data_param", "dropout_param", "dummy_data_param", "eltwise_param",
    "exp_param", "hdf5_data_param", "hdf5_output_param", "hinge_loss_param",
    "image_data_param", "infogain_loss_param", "inner_product_param", "lrn_param",
    "memory_data_param", "mvn_param", "pooling_param", "power_param", "relu_param",
    "sigmoid_param", "softmax_param", "slice_param", "tanh_param", "threshold_param",
    "window_data_param", "transform_param", "loss_param",
)
_V1_HANDLED = {"bottom", "top", "name", "include", "exclude", "type", "blobs", "param",
               "blob_share_mode", "blobs_lr", "weight_decay", "loss_weight", "layer",
               *_V1_PARAMS}


class _Upgrader:
    """One run of the upgrade over a copy of the net."""

    def __init__(self, src: SourceNet) -> None:
        self.path = src.path
        self.src = src
        self.notes: list[str] = []
        self.warnings: list[ReadWarning] = []

    # helpers
    def where(self, origin: Origin | None) -> Position:
        """The (line, column) of a source entry; None is the input declaration."""
        if origin is None:
            return self.first_position("input")
        kind, index = origin
        positions = self.src.layer_positions if kind == "layer" else self.src.legacy_positions
        return positions[index] if 0 <= index < len(positions) else _UNKNOWN

    def fail(self, message: str, where: Position, layer: str | None = None,
             caffe: str | None = None) -> NetError:
        line, column = where
        return NetError(message, path=self.path, line=line or None,
                        column=column or None, layer=layer,
                        caffe_message=caffe if caffe is not None else message)

    def warn(self, message: str, where: Position, layer: str | None = None) -> None:
        line, column = where
        self.warnings.append(ReadWarning(self.path, line, column, message, None, layer))

    def first_position(self, name: str) -> Position:
        found = self.src.field_positions.get(name)
        return found[0] if found else _UNKNOWN

    # the steps
    def run(self) -> UpgradedNet:
        net = pb.NetParameter()
        net.CopyFrom(self.src.param)
        layer_origins: list[Origin | None] = [("layer", i) for i in range(len(net.layer))]
        legacy_origins: list[Origin] = [("layers", i) for i in range(len(net.layers))]
        was_legacy: str | None = None
        if _needs_v0(net):
            was_legacy = "V0"
            net, legacy_origins = self.v0_to_v1(net)
        if _needs_data(net):
            self.data_transformation(net)
        if _needs_v1(net):
            was_legacy = was_legacy or "V1"
            net = self.v1_to_v2(net, legacy_origins)
            layer_origins = list(legacy_origins)
        if _needs_input(net):
            layer_origins = self.inputs(net, layer_origins)
        if _needs_batch_norm(net):
            self.batch_norm(net)
        positions = [self.where(origin) for origin in layer_origins]
        return UpgradedNet(self.path, net, positions, was_legacy, self.notes, self.warnings,
                           layer_origins)

    def v0_to_v1(self, v0: pb.NetParameter) -> tuple[pb.NetParameter, list[Origin]]:
        """UpgradeV0Net: padding layers first, then each layer's flat fields."""
        padded, kept = self.fold_padding(v0)
        net = pb.NetParameter()
        if padded.HasField("name"):
            net.name = padded.name
        origins: list[Origin] = []
        for entry, original in zip(padded.layers, kept, strict=False):
            origin = ("layers", original)
            self.v0_layer(entry, net.layers.add(), self.where(origin))
            origins.append(origin)
        net.input.extend(padded.input)
        net.input_dim.extend(padded.input_dim)
        if padded.HasField("force_backward"):
            net.force_backward = padded.force_backward
        dropped = [name for name in ("input_shape", "state", "debug_info", "layer")
                   if _has(padded, name)]
        for name in dropped:
            self.warn(f"the V0 upgrade drops the net's '{name}' field, as Caffe's does",
                      self.first_position(name))
        self.notes.append(f"V0 layer definitions (layers {{ layer {{ ... }} }}) upgraded to V1 "
                          f"({len(net.layers)} layers)")
        return net, origins

    def fold_padding(self, net: pb.NetParameter) -> tuple[pb.NetParameter, list[int]]:
        """UpgradeV0PaddingLayers: fold 'padding' layers into the layer reading them."""
        out = pb.NetParameter()
        out.CopyFrom(net)
        del out.layers[:]
        kept: list[int] = []
        last_top: dict[str, int] = {name: -1 for name in net.input}
        for i, entry in enumerate(net.layers):
            v0 = entry.layer
            where = self.where(("layers", i))
            name = v0.name if v0.HasField("name") else None
            if v0.type != "padding":
                out.layers.add().CopyFrom(entry)
                kept.append(i)
            for j, blob in enumerate(entry.bottom):
                if blob not in last_top:
                    raise self.fail(f"Unknown blob input {blob} to layer {j}", where, name)
                top_index = last_top[blob]
                if top_index == -1:
                    continue
                source = net.layers[top_index]
                if source.layer.type != "padding":
                    continue
                if v0.type not in ("conv", "pool"):
                    raise self.fail(
                        "Padding layer input to non-convolutional / non-pooling layer type "
                        f"{v0.type}", where, name,
                        "Check failed: (layer_param.type() == \"conv\") || "
                        "(layer_param.type() == \"pool\") Padding layer input to "
                        f"non-convolutional / non-pooling layer type {v0.type}")
                checks = (
                    ("layer_connection.bottom_size()", len(entry.bottom),
                     "Conv Layer takes a single blob as input."),
                    ("source_layer.bottom_size()", len(source.bottom),
                     "Padding Layer takes a single blob as input."),
                    ("source_layer.top_size()", len(source.top),
                     "Padding Layer produces a single blob as output."),
                )
                for expression, count, note in checks:
                    if count != 1:
                        raise self.fail(note, where, name,
                                        _check_failed(f"{expression} == 1", count, 1, note))
                target = out.layers[len(out.layers) - 1]
                target.layer.pad = source.layer.pad
                target.bottom[j] = source.bottom[0]
                self.notes.append(f"padding layer '{source.layer.name}' folded into "
                                  f"'{v0.name}' (pad {source.layer.pad})")
            for blob in entry.top:
                last_top[blob] = i
        return out, kept

    def v0_layer(self, entry: pb.V1LayerParameter, out: pb.V1LayerParameter,
                 where: Position) -> None:
        """UpgradeV0LayerParameter: one V0 entry to a V1 layer."""
        out.bottom.extend(entry.bottom)
        out.top.extend(entry.top)
        if not entry.HasField("layer"):
            if any(f.name not in ("bottom", "top") for f, _ in entry.ListFields()):
                self.warn("a V1 'layers' entry in a V0 net keeps only its bottom and top "
                          "blobs (Caffe's V0 upgrade drops the rest)", where)
            return
        v0 = entry.layer
        name = v0.name if v0.HasField("name") else None
        if v0.HasField("name"):
            out.name = v0.name
        kind = v0.type
        if v0.HasField("type"):
            enum_name = _V0_TYPES.get(kind)
            if enum_name is None:
                raise self.fail(f"Unknown layer name: {kind}", where, name)
            out.type = pb.V1LayerParameter.LayerType.Value(enum_name)
        out.blobs.extend(v0.blobs)
        out.blobs_lr.extend(v0.blobs_lr)
        out.weight_decay.extend(v0.weight_decay)
        for v0_field, shown, targets in _V0_FIELDS:
            if not v0.HasField(v0_field):
                continue
            target = targets.get("*") or targets.get(kind)
            if target is None:
                self.warn(f"Unknown parameter {shown} for layer type {kind}", where, name)
                continue
            param_name, field_name, how = target
            params = getattr(out, param_name)
            value = getattr(v0, v0_field)
            if how in ("add", "set"):
                value = _c_convert(value, params.DESCRIPTOR.fields_by_name[field_name])
            if how == "add":
                getattr(params, field_name).append(value)
            elif how == "copy" and field_name:
                getattr(params, field_name).CopyFrom(value)
            elif how == "copy":
                params.CopyFrom(value)
            else:
                setattr(params, field_name, value)
        ignored = [f.name for f, _ in v0.ListFields() if f.name not in _V0_HANDLED]
        if ignored:
            self.warn(f"V0 field(s) {', '.join(ignored)} are not carried over by Caffe's "
                      f"upgrade", where, name)

    def data_transformation(self, net: pb.NetParameter) -> None:
        """UpgradeNetDataTransformation: move transform fields into transform_param."""
        moved = 0
        for entry in net.layers:
            param_name = _DATA_KINDS.get(entry.type)
            if param_name is None:
                continue
            params = getattr(entry, param_name)
            params.SetInParent()
            entry.transform_param.SetInParent()
            for name in _TRANSFORM_FIELDS:
                if params.HasField(name):
                    setattr(entry.transform_param, name, getattr(params, name))
                    params.ClearField(name)
                    moved += 1
        self.notes.append(f"data transformation fields ({moved}) moved into transform_param")

    def v1_to_v2(self, net: pb.NetParameter, origins: list[Origin]) -> pb.NetParameter:
        """UpgradeV1Net: every V1 ``layers`` entry to a V2 ``layer``."""
        if len(net.layer) > 0:
            message = (
                "Refusing to upgrade inconsistent NetParameter input; the definition "
                "includes both 'layer' and 'layers' fields. The current format defines "
                "'layer' fields with string type like layer { type: 'Layer' ... } and not "
                "layers { type: LAYER ... }. Manually switch the definition to 'layer' "
                "format to continue.")
            known = [p for p in (self.where(origins[0] if origins else ("layers", 0)),
                                 self.where(("layer", 0))) if p != _UNKNOWN]
            raise self.fail(message, min(known) if known else _UNKNOWN)
        out = pb.NetParameter()
        out.CopyFrom(net)
        del out.layers[:]
        del out.layer[:]
        for entry, origin in zip(net.layers, origins, strict=False):
            self.v1_layer(entry, out.layer.add(), self.where(origin))
        self.notes.append(f"V1 layer definitions (layers {{ type: ENUM }}) upgraded to V2 "
                          f"({len(out.layer)} layers)")
        return out

    def v1_layer(self, v1: pb.V1LayerParameter, out: pb.LayerParameter,
                 where: Position) -> None:
        """UpgradeV1LayerParameter."""
        name = v1.name if v1.HasField("name") else None
        out.bottom.extend(v1.bottom)
        out.top.extend(v1.top)
        if v1.HasField("name"):
            out.name = v1.name
        out.include.extend(v1.include)
        out.exclude.extend(v1.exclude)
        if v1.HasField("type"):
            enum_name = pb.V1LayerParameter.LayerType.Name(v1.type)
            if enum_name not in _V1_TYPES:
                raise self.fail(f"Unknown V1LayerParameter layer type: {v1.type}", where, name)
            out.type = _V1_TYPES[enum_name]
        out.blobs.extend(v1.blobs)

        def spec(index: int) -> pb.ParamSpec:
            while len(out.param) <= index:
                out.param.add()
            found: pb.ParamSpec = out.param[index]
            return found

        for i, param_name in enumerate(v1.param):
            spec(i).name = param_name
        for i, mode in enumerate(v1.blob_share_mode):
            spec(i).share_mode = mode  # STRICT/PERMISSIVE have the same numbers
        for i, lr in enumerate(v1.blobs_lr):
            spec(i).lr_mult = lr
        for i, decay in enumerate(v1.weight_decay):
            spec(i).decay_mult = decay
        out.loss_weight.extend(v1.loss_weight)
        for param_name in _V1_PARAMS:
            if v1.HasField(param_name):
                getattr(out, param_name).CopyFrom(getattr(v1, param_name))
        if v1.HasField("layer"):
            self.warn("Input NetParameter has V0 layer -- ignoring.", where, name)
        ignored = [f.name for f, _ in v1.ListFields() if f.name not in _V1_HANDLED]
        if ignored:
            self.warn(f"V1 field(s) {', '.join(ignored)} are not carried over by Caffe's "
                      f"upgrade", where, name)

    def inputs(self, net: pb.NetParameter, origins: list[Origin | None]
               ) -> list[Origin | None]:
        """UpgradeNetInput: the legacy input fields to a leading Input layer."""
        has_shape = len(net.input_shape) > 0
        has_dim = len(net.input_dim) > 0
        where = self.where(None)
        result = origins
        if has_shape or has_dim:
            layer = pb.LayerParameter(name="input", type="Input")
            for i, top in enumerate(net.input):
                layer.top.append(top)
                if has_shape:
                    if i >= len(net.input_shape):
                        raise self.fail(
                            f"input '{top}' has no input_shape ({len(net.input)} inputs, "
                            f"{len(net.input_shape)} input_shape entries); Caffe reads past "
                            f"the end of the list here", where)
                    layer.input_param.shape.add().CopyFrom(net.input_shape[i])
                else:
                    dims = net.input_dim[i * 4:i * 4 + 4]
                    if len(dims) < 4:
                        raise self.fail(
                            f"input '{top}' needs four input_dim values (there are "
                            f"{len(net.input_dim)} for {len(net.input)} inputs); Caffe reads "
                            f"past the end of the list here", where)
                    layer.input_param.shape.add().dim.extend(dims)
            layer.input_param.SetInParent()
            layers = list(net.layer)
            del net.layer[:]
            net.layer.add().CopyFrom(layer)
            net.layer.extend(layers)
            result = [None, *origins]
            self.notes.append(f"input fields ({', '.join(net.input)}) turned into an Input "
                              f"layer named 'input'")
        else:
            self.notes.append("input fields without shapes removed (nothing to upgrade)")
        del net.input[:]
        del net.input_shape[:]
        del net.input_dim[:]
        return result

    def batch_norm(self, net: pb.NetParameter) -> None:
        """UpgradeNetBatchNorm: zero lr_mult/decay_mult of 3-param BatchNorm layers."""
        names = []
        for layer in net.layer:
            if layer.type == "BatchNorm" and len(layer.param) == 3:
                for spec in layer.param:
                    spec.lr_mult = 0.0
                    spec.decay_mult = 0.0
                names.append(layer.name)
        self.notes.append(f"BatchNorm layer(s) {', '.join(repr(n) for n in names)}: the "
                          f"three param specs set to lr_mult 0, decay_mult 0")


_UNSIGNED_BITS = {FieldDescriptor.TYPE_UINT32: 32, FieldDescriptor.TYPE_FIXED32: 32,
                  FieldDescriptor.TYPE_UINT64: 64, FieldDescriptor.TYPE_FIXED64: 64}
_SIGNED_BITS = {FieldDescriptor.TYPE_INT32: 32, FieldDescriptor.TYPE_SINT32: 32,
                FieldDescriptor.TYPE_SFIXED32: 32, FieldDescriptor.TYPE_INT64: 64,
                FieldDescriptor.TYPE_SINT64: 64, FieldDescriptor.TYPE_SFIXED64: 64}


def _c_convert(value: object, target: FieldDescriptor) -> object:
    """``value`` as C++ converts it when a setter of field ``target`` takes it:
    integers wrap to the target's width (V0's int32 ``new_height`` -2 becomes the
    uint32 4294967294 in V1's image_data_param, as it does in Caffe)."""
    if isinstance(value, bool) or not isinstance(value, int):
        return value
    if target.type in _UNSIGNED_BITS:
        return value % (1 << _UNSIGNED_BITS[target.type])
    if target.type in _SIGNED_BITS:
        bits = _SIGNED_BITS[target.type]
        wrapped = value % (1 << bits)
        return wrapped - (1 << bits) if wrapped >= 1 << (bits - 1) else wrapped
    return value


def _has(message: Message, name: str) -> bool:
    fd = message.DESCRIPTOR.fields_by_name[name]
    if is_repeated(fd):
        return len(getattr(message, name)) > 0
    return bool(message.HasField(name))


def upgrade_net(src: SourceNet | pb.NetParameter) -> UpgradedNet:
    """Upgrade a net read by :func:`~caffefill.net.reader.read_net` as Caffe 1.0 does.

    A bare NetParameter is accepted too (its positions are then unknown).  The
    source is not modified.  Raises NetError where Caffe refuses the net.
    """
    if not isinstance(src, SourceNet):
        src = SourceNet("<net>", src)
    return _Upgrader(src).run()


# ---------------------------------------------------------------- text output


def upgraded_text(net: UpgradedNet | pb.NetParameter) -> str:
    """The V2 net as prototxt text, as ``upgrade_net_proto_text`` writes it."""
    param = net.param if isinstance(net, UpgradedNet) else net
    return message_to_text(param)




#: Top-level fields the upgrade turns into an Input layer.
_INPUT_FIELDS = frozenset({"input", "input_dim", "input_shape"})


def upgraded_source(text: str, src: SourceNet, net: UpgradedNet) -> tuple[str, bool]:
    """The upgraded net ``net`` written over the source ``text`` that ``src`` was
    read from, and whether that kept the source's layout.

    What the upgrade leaves as it was stays as written, with its comments and
    blank lines: the top-level fields it keeps, each ``layer`` it does not
    change, and the text between fields.  A rewritten entry (a V0/V1
    ``layers`` entry, a layer whose fields the upgrade moves) is printed as
    :func:`upgraded_text` prints it, in its place, with the comments written
    inside it moved just above it; the generated Input layer takes the place of
    the first ``input`` field (or of the first layer).  When the result would
    not read back as the upgraded net, the whole net is printed as
    :func:`upgraded_text` does, and False is returned.
    """
    from .reader import Field, parse_message, parse_tree
    from .reader.common import _Source
    from .reader.lexer import _tokens

    fallback = upgraded_text(net), False
    try:
        root = parse_tree(text, path=net.path)
    except CaffefillError:
        return fallback
    if any(f.start < 0 or f.end < 0 for f in root.fields):
        return fallback  # list syntax at the top level: no offsets
    kept_fields = {fd.name for fd, _ in net.param.ListFields()}
    by_origin = {origin: j for j, origin in enumerate(net.origins) if origin is not None}
    generated = [j for j, origin in enumerate(net.origins) if origin is None]

    def printed(j: int) -> str:
        return message_to_text(pb.NetParameter(layer=[net.param.layer[j]])).rstrip("\n")

    def comments(node: Field) -> list[str]:
        found: list[str] = []
        inside = _Source(text[node.start:node.end], net.path)
        last = 0
        for token in _tokens(inside):
            gap = inside.text[last:token.offset]
            found.extend(line.strip() for line in gap.split("\n")
                         if line.strip().startswith("#"))
            last = token.offset + len(token.text)
        return found

    out: list[str] = []
    counts = {"layer": 0, "layers": 0}
    last = 0
    pending_input = bool(generated)
    for node in root.fields:
        gap = text[last:node.start]
        last = node.end
        if pending_input and (node.name in _INPUT_FIELDS or node.name in counts):
            out.append(gap + printed(generated[0]))
            pending_input, gap = False, "\n"
        if node.name in counts:
            index = counts[node.name]
            counts[node.name] += 1
            j = by_origin.get((node.name, index))
            if j is None:  # folded into another layer (a V0 padding layer)
                out.append(gap if "#" in gap else "")
            elif node.name == "layer" and index < len(src.param.layer) and \
                    net.param.layer[j] == src.param.layer[index]:
                out.append(gap + text[node.start:node.end])
            else:
                indent = gap[gap.rfind("\n") + 1:]
                indent = indent if not indent.strip() else ""
                moved = "".join(f"{line}\n{indent}" for line in comments(node))
                out.append(gap + moved + printed(j))
        elif node.name in _INPUT_FIELDS or node.name not in kept_fields:
            out.append(gap if "#" in gap else "")
        else:
            out.append(gap + text[node.start:node.end])
    if pending_input:
        out.append("\n" + printed(generated[0]))
    out.append(text[last:])
    result = "".join(out)
    if not result.endswith("\n"):
        result += "\n"
    check = pb.NetParameter()
    try:
        parse_message(result, check, path=net.path)
    except CaffefillError:
        return fallback
    if check != net.param:
        return fallback
    return result, True
