"""Round trips between the text-format reader and protobuf's own text_format:
generated NetParameter messages printed by protobuf (every printing style) read
back equal through caffefill's reader, and caffefill's reading of them prints
back to the same text."""

from __future__ import annotations

from google.protobuf import text_format
from hypothesis import given, settings
from hypothesis import strategies as st

from caffefill._proto import caffefill_pb2 as pb
from caffefill.net.reader import parse_message, read_net

# Floats that a float32 field holds exactly (no NaN: it never compares equal).
floats32 = st.floats(width=32, allow_nan=False)
# Any unicode text protobuf accepts in a string field, quotes, backslashes and
# control characters included (so the printer has to escape them).
texts = st.text(st.characters(codec="utf-8"), max_size=12)
names = st.one_of(texts, st.sampled_from(["conv1", "data", 'a"b', "a\\b", "ü\n\t"]))
small = st.integers(min_value=0, max_value=2**32 - 1)


@st.composite
def fillers(draw: st.DrawFn) -> pb.FillerParameter:
    filler = pb.FillerParameter()
    if draw(st.booleans()):
        filler.type = draw(st.sampled_from(["constant", "gaussian", "xavier", "msra"]))
    for field in ("value", "min", "max", "mean", "std"):
        if draw(st.booleans()):
            setattr(filler, field, draw(floats32))
    if draw(st.booleans()):
        filler.sparse = draw(st.integers(min_value=-2**31, max_value=2**31 - 1))
    if draw(st.booleans()):
        filler.variance_norm = draw(st.sampled_from(list(
            pb.FillerParameter.VarianceNorm.values())))
    return filler


@st.composite
def layers(draw: st.DrawFn) -> pb.LayerParameter:
    layer = pb.LayerParameter(name=draw(names), type=draw(names))
    layer.bottom.extend(draw(st.lists(names, max_size=3)))
    layer.top.extend(draw(st.lists(names, max_size=3)))
    layer.loss_weight.extend(draw(st.lists(floats32, max_size=2)))
    for _ in range(draw(st.integers(min_value=0, max_value=2))):
        spec = layer.param.add(name=draw(names))
        if draw(st.booleans()):
            spec.lr_mult = draw(floats32)
    if draw(st.booleans()):
        conv = layer.convolution_param
        conv.num_output = draw(small)
        conv.kernel_size.extend(draw(st.lists(small, max_size=3)))
        if draw(st.booleans()):
            conv.bias_term = draw(st.booleans())
        if draw(st.booleans()):
            conv.weight_filler.CopyFrom(draw(fillers()))
        if draw(st.booleans()):
            conv.bias_filler.CopyFrom(draw(fillers()))
    return layer


@st.composite
def nets(draw: st.DrawFn) -> pb.NetParameter:
    net = pb.NetParameter()
    if draw(st.booleans()):
        net.name = draw(names)
    net.input.extend(draw(st.lists(names, max_size=2)))
    net.input_dim.extend(draw(st.lists(st.integers(-2**31, 2**31 - 1), max_size=4)))
    net.layer.extend(draw(st.lists(layers(), max_size=4)))
    return net


styles = st.fixed_dictionaries({"as_one_line": st.booleans(), "as_utf8": st.booleans()})


@settings(max_examples=100, deadline=None)
@given(nets(), styles)
def test_protobuf_printed_reads_back_equal(net: pb.NetParameter,
                                           style: dict[str, bool]) -> None:
    text = text_format.MessageToString(net, **style)
    ours = pb.NetParameter()
    assert parse_message(text, ours, strict=True) == []
    assert ours == net
    read = read_net("t.prototxt", text=text.encode("utf-8"), strict=True)
    assert read.param == net
    assert read.warnings == []
    assert len(read.layer_positions) == len(net.layer)


@settings(max_examples=100, deadline=None)
@given(nets())
def test_read_prints_back_to_the_same_text(net: pb.NetParameter) -> None:
    # caffefill has no printer of its own: what it reads prints (through
    # protobuf) to the very text it read, so nothing is lost or reordered.
    text = text_format.MessageToString(net)
    ours = pb.NetParameter()
    parse_message(text, ours, strict=True)
    assert text_format.MessageToString(ours) == text
    assert text_format.Parse(text_format.MessageToString(ours, as_utf8=True),
                             pb.NetParameter()) == net
