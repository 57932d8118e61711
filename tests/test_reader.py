"""The text-format reader: every syntax feature, every error with its position,
hostile input, and the real-world corpus (read exactly as protobuf reads it)."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
from conftest import DATA, SHARED
from google.protobuf import text_format

from caffefill._proto import caffefill_pb2 as pb
from caffefill.errors import CaffefillError, ParseError
from caffefill.net.reader import (
    MAX_DEPTH,
    Block,
    Scalar,
    parse_message,
    parse_tree,
    read_net,
)


def net(text: str | bytes, **kwargs: bool) -> pb.NetParameter:
    return read_net("t.prototxt", text=text, **kwargs).param


def same_as_protobuf(text: str, message_type: type = pb.NetParameter) -> None:
    """Our reader and protobuf's text_format agree on ``text``."""
    ours = message_type()
    assert parse_message(text, ours) == []
    assert ours == text_format.Parse(text, message_type())


def error_of(text: str | bytes, **kwargs: bool) -> ParseError:
    with pytest.raises(ParseError) as info:
        read_net("t.prototxt", text=text, **kwargs)
    assert info.value.path == "t.prototxt"
    return info.value


# ---------------------------------------------------------------- syntax


def test_basic_fields_and_comments() -> None:
    text = """# a comment
name: "Net"  # trailing comment
force_backward: true
layer {  # comment after brace
  name: "conv1" type: "Convolution"
  bottom: "data" top: "conv1"
}
"""
    param = net(text)
    assert param.name == "Net"
    assert param.force_backward is True
    assert len(param.layer) == 1
    assert param.layer[0].name == "conv1"
    assert list(param.layer[0].bottom) == ["data"]
    same_as_protobuf(text)


@pytest.mark.parametrize("opener", ["layer {", "layer: {", "layer <", "layer: <"])
def test_message_delimiters(opener: str) -> None:
    closer = "}" if "{" in opener else ">"
    param = net(f'{opener} name: "a" include {{ phase: TEST }} {closer}')
    assert param.layer[0].name == "a"
    assert param.layer[0].include[0].phase == pb.TEST


def test_repeated_fields_and_list_syntax() -> None:
    text = """input: "a" input: "b"
input_shape { dim: [1, 3, 224, 224] }
input_shape { dim: 2 dim: [] dim: 5 }
layer [ { name: "x" }, < name: "y" > ]
layer: [ { name: "z" } ]
"""
    param = net(text)
    assert list(param.input) == ["a", "b"]
    assert list(param.input_shape[0].dim) == [1, 3, 224, 224]
    assert list(param.input_shape[1].dim) == [2, 5]
    assert [layer.name for layer in param.layer] == ["x", "y", "z"]
    same_as_protobuf(text)


def test_separators() -> None:
    text = 'name: "a"; input: "x", input: "y";\nlayer { name: "l"; top: "t", };'
    param = net(text)
    assert list(param.input) == ["x", "y"]
    assert param.layer[0].name == "l"
    same_as_protobuf(text)


def test_strings_quotes_escapes_and_concatenation() -> None:
    text = r"""layer { name: 'single' type: "dou" 'ble' "!" }
layer { name: "esc\n\t\r\\\"\'\a\b\f\v\?" }
layer { name: "\101\x42\x4" }
layer { name: "\u00e9\U0001F600\uD83D\uDE00" }
layer { name: "raw é ü" }
"""
    param = net(text)
    assert param.layer[0].name == "single"
    assert param.layer[0].type == "double!"
    assert param.layer[1].name == "esc\n\t\r\\\"'\a\b\f\v?"
    assert param.layer[2].name == "AB\x04"
    assert param.layer[3].name == "\u00e9\U0001f600\U0001f600"
    assert param.layer[4].name == "raw é ü"


def test_bytes_field_keeps_raw_bytes() -> None:
    datum = pb.Datum()
    parse_message(r'data: "\377\000a" label: 3', datum)
    assert datum.data == b"\xff\x00a"


@pytest.mark.parametrize(("written", "value"), [
    ("7", 7), ("0x1F", 31), ("0X1f", 31), ("017", 15), ("0", 0), ("-5", -5), ("- 5", -5),
    ("-0x10", -16), ("2147483647", 2**31 - 1), ("-2147483648", -(2**31)),
])
def test_integers(written: str, value: int) -> None:
    rule = pb.NetStateRule()
    parse_message(f"min_level: {written}", rule)
    assert rule.min_level == value


def test_integer_kinds() -> None:
    shape = pb.BlobShape()
    parse_message("dim: 9223372036854775807 dim: -9223372036854775808 dim: 0x7fffffffffffffff",
                  shape)
    assert list(shape.dim) == [2**63 - 1, -(2**63), 2**63 - 1]
    conv = pb.ConvolutionParameter()
    parse_message("num_output: 4294967295", conv)
    assert conv.num_output == 2**32 - 1


@pytest.mark.parametrize(("written", "value"), [
    ("1e-3", 1e-3), (".5", 0.5), ("1.", 1.0), ("5f", 5.0), ("1.5F", 1.5), ("2.5e+2f", 250.0),
    ("3", 3.0), ("-0.25", -0.25), ("- .5", -0.5), ("0.1", 0.1), ("1E2", 100.0),
    ("inf", math.inf), ("-inf", -math.inf), ("Infinity", math.inf), ("-INF", -math.inf),
    ("18446744073709551616", 1.8446744073709552e19), ("1e39", math.inf), ("-1e39", -math.inf),
    ("1e-50", 0.0), ("3.4028235e38", 3.4028234663852886e38),
    ("-3.40282356e38", -3.4028234663852886e38), ("3.4028236e38", math.inf),
])
def test_floats(written: str, value: float) -> None:
    filler = pb.FillerParameter()
    parse_message(f"std: {written}", filler)
    expected = pb.FillerParameter(std=value)
    assert filler.std == expected.std
    if "- " not in written:  # Python's text_format wants '-' attached; C++'s does not
        assert filler == text_format.Parse(f"std: {written}", pb.FillerParameter())


def test_nan_and_double_fields() -> None:
    filler = pb.FillerParameter()
    parse_message("std: nan mean: -nan", filler)
    assert math.isnan(filler.std)
    assert math.isnan(filler.mean)
    proto = pb.BlobProto()
    parse_message("double_data: 0.1 double_data: 1e300 double_data: 7", proto)
    assert list(proto.double_data) == [0.1, 1e300, 7.0]


@pytest.mark.parametrize(("written", "value"), [
    ("true", True), ("True", True), ("t", True), ("1", True), ("0x1", True),
    ("false", False), ("False", False), ("f", False), ("0", False),
])
def test_bools(written: str, value: bool) -> None:
    param = net(f"force_backward: {written}")
    assert param.HasField("force_backward")
    assert param.force_backward is value


def test_enums_by_name_and_number() -> None:
    text = """layer { pooling_param { pool: AVE } include { phase: 0 } }
layer { pooling_param { pool: 2 } }
layers { type: CONVOLUTION }
layers { type: 14 }
"""
    param = net(text)
    assert param.layer[0].pooling_param.pool == pb.PoolingParameter.AVE
    assert param.layer[0].include[0].phase == pb.TRAIN
    assert param.layer[1].pooling_param.pool == pb.PoolingParameter.STOCHASTIC
    assert param.layers[0].type == pb.V1LayerParameter.CONVOLUTION
    assert param.layers[1].type == pb.V1LayerParameter.INNER_PRODUCT
    same_as_protobuf(text)


def test_whitespace_crlf_tabs_bom() -> None:
    text = '\ufeffname:\t"a"\r\nlayer\t{\r\n\tname: "b"\r\n}\r\n\v\f'
    param = net(text.encode("utf-8"))
    assert param.name == "a"
    assert param.layer[0].name == "b"
    source = read_net("t", text=text)
    assert source.layer_positions == [(2, 1)]


def test_empty_and_comment_only_files() -> None:
    assert net("") == pb.NetParameter()
    assert net("# nothing\n   \n# here") == pb.NetParameter()


def test_fields_present_even_when_default() -> None:
    param = net("layer { convolution_param { bias_term: true group: 1 } }")
    conv = param.layer[0].convolution_param
    assert conv.HasField("bias_term")
    assert conv.HasField("group")
    empty = net("layer { convolution_param { } }")
    assert empty.layer[0].HasField("convolution_param")


# ---------------------------------------------------------------- the tree


def test_parse_tree_is_schema_free() -> None:
    tree = parse_tree('a: 1 b { c: "x" d: [1, -2.5] } e: FOO')
    assert isinstance(tree, Block)
    names = [node.name for node in tree.fields]
    assert names == ["a", "b", "e"]
    inner = tree.fields[1].value
    assert isinstance(inner, Block)
    assert [node.name for node in inner.fields] == ["c", "d", "d"]
    value = inner.fields[2].value
    assert isinstance(value, Scalar)
    assert (value.kind, value.text, value.negative) == ("float", "2.5", True)
    assert inner.fields[1].in_list
    assert (inner.fields[2].line, inner.fields[2].column) == (1, 24)
    assert inner.fields[2].list_index == 1


# ---------------------------------------------------------------- positions


POSITIONS_TEXT = """name: "pos"
input: "data"
input_dim: 1
layer {
  name: "a"
}
  layer { name: "b" }
layers { name: "old" }
layer [ { name: "c" } ]
"""


def test_layer_and_field_positions() -> None:
    source = read_net("t", text=POSITIONS_TEXT)
    assert source.path == "t"
    assert source.layer_positions == [(4, 1), (7, 3), (9, 9)]
    assert source.legacy_positions == [(8, 1)]
    assert source.field_positions["input"] == [(2, 1)]
    assert source.field_positions["input_dim"] == [(3, 1)]
    assert len(source.field_positions["layer"]) == 3


def test_filler_blocks() -> None:
    text = """layer {
  name: "conv"
  convolution_param {
    weight_filler { type: "xavier" }
    bias_filler { type: "constant" value: 0.2 }
  }
}
layer { name: "dummy" dummy_data_param { data_filler { type: "gaussian" }
                                         data_filler { type: "constant" } } }
layer { name: "fork" fork_param { inner { my_filler { type: "uniform" max: 2 } } }
        other_filler { type: "msra" } }
layers { layer { name: "v0" weight_filler { std: 0.5 } } }
"""
    source = read_net("t", text=text)
    blocks = [(b.list_name, b.layer_index, b.field_path, b.index, b.known, b.line, b.column,
               b.layer_name) for b in source.filler_blocks]
    assert blocks == [
        ("layer", 0, "convolution_param.weight_filler", None, True, 4, 5, "conv"),
        ("layer", 0, "convolution_param.bias_filler", None, True, 5, 5, "conv"),
        ("layer", 1, "dummy_data_param.data_filler", 0, True, 8, 42, "dummy"),
        ("layer", 1, "dummy_data_param.data_filler", 1, True, 9, 42, "dummy"),
        ("layer", 2, "fork_param.inner.my_filler", None, False, 10, 43, "fork"),
        ("layer", 2, "other_filler", None, False, 11, 9, "fork"),
        ("layers", 0, "layer.weight_filler", None, True, 12, 29, "v0"),
    ]
    fillers = [b.filler for b in source.filler_blocks]
    assert fillers[1].value == pytest.approx(0.2)
    assert fillers[4] == pb.FillerParameter(type="uniform", max=2)
    assert fillers[5].type == "msra"
    assert fillers[6].std == 0.5
    # the unknown fields were skipped with a warning each, nothing else
    assert [w.message for w in source.warnings] == [
        "unknown field 'fork_param' in LayerParameter",
        "unknown field 'other_filler' in LayerParameter",
    ]
    # records are copies: changing one leaves the net alone
    fillers[0].type = "gaussian"
    assert source.param.layer[0].convolution_param.weight_filler.type == "xavier"


def test_unreadable_filler_in_unknown_field_is_a_warning() -> None:
    source = read_net("t", text='layer { name: "l" foo { bad_filler { std: "x" } } }')
    assert source.filler_blocks == []
    assert len(source.warnings) == 2
    assert "could not be read" in source.warnings[1].message
    assert (source.warnings[1].line, source.warnings[1].column) == (1, 25)


# ---------------------------------------------------------------- unknown fields


def test_unknown_fields_are_skipped_with_a_warning() -> None:
    text = """name: "n"
mystery: 5
layer {
  name: "l"
  blobs_lr: 1
  fork_param { a: 1 b { c: [1, 2] } d: "s" e: -inf }
  list_thing: [ { x: 1 }, { y: 2 } ]
  top: "t"
}
"""
    source = read_net("t", text=text)
    assert source.param.name == "n"
    assert list(source.param.layer[0].top) == ["t"]
    found = [(w.line, w.column, w.message, w.layer) for w in source.warnings]
    assert found == [
        (2, 1, "unknown field 'mystery' in NetParameter", None),
        (5, 3, "unknown field 'blobs_lr' in LayerParameter", "l"),
        (6, 3, "unknown field 'fork_param' in LayerParameter", "l"),
        (7, 17, "unknown field 'list_thing' in LayerParameter", "l"),
    ]
    assert "lr_mult" in (source.warnings[1].hint or "")
    assert str(source.warnings[0]) == "t:2:1: unknown field 'mystery' in NetParameter"
    assert str(source.warnings[1]).startswith("t:5:3: layer 'l': unknown field 'blobs_lr' in "
                                              "LayerParameter (a V1 field")


def test_unknown_field_suggestion() -> None:
    source = read_net("t", text="layer { convolution_param { num_ouput: 3 } }")
    warning = source.warnings[0]
    assert warning.message == "unknown field 'num_ouput' in ConvolutionParameter"
    assert warning.hint == "did you mean 'num_output'?"


def test_strict_mode_refuses_unknown_fields() -> None:
    error = error_of('layer {\n  name: "l"\n  bogus: 1\n}', strict=True)
    assert (error.line, error.column) == (3, 3)
    assert error.layer == "l"
    assert "unknown field 'bogus' in LayerParameter" in error.message


def test_extension_syntax_is_an_unknown_field() -> None:
    source = read_net("t", text='[foo.bar] { x: 1 } [type.googleapis.com/a.B]: 3 name: "n"')
    assert source.param.name == "n"
    assert [w.message for w in source.warnings] == [
        "unknown extension '[foo.bar]' in NetParameter",
        "unknown extension '[type.googleapis.com/a.B]' in NetParameter",
    ]


# ---------------------------------------------------------------- errors


ERRORS = [
    # (text, line, column, part of the message)
    ("layer {\n  convolution_param { num_output: 1.5 }\n}", 2, 35, "expected an integer"),
    ("layer { convolution_param { num_output: -3 } }", 1, 41, "non-negative"),
    ("layer { convolution_param { num_output: 4294967296 } }", 1, 41, "out of range"),
    ("input_dim: 2147483648", 1, 12, "out of range"),
    ("input_dim: -2147483649", 1, 12, "out of range"),
    ("input_dim: " + "9" * 5000, 1, 12, "out of range"),
    ("layer { pooling_param { pool: MAXX } }", 1, 31, "did you mean MAX"),
    ("layer { pooling_param { pool: 9 } }", 1, 31, "unknown value '9'"),
    ("layer { pooling_param { pool: -1 } }", 1, 31, "unknown value '-1'"),
    ("layer { pooling_param { pool: \"MAX\" } }", 1, 31, "found a string"),
    ("layer { name: \"a\" name: \"b\" }", 1, 19, "more than once"),
    ("layer { convolution_param {} convolution_param {} }", 1, 30, "more than once"),
    ("layer { name: a }", 1, 15, "expected a quoted string"),
    ("layer { name: 5 }", 1, 15, "expected a quoted string"),
    ("layer { name: \"a\"", 1, 18, "expected '}'"),
    ("layer { name: \"a\" }\n}", 2, 1, "no block is open"),
    ("layer { name \"a\" }", 1, 14, "expected ':' or '{'"),
    ("layer {\n name: \"a\n\" }", 2, 8, "not closed before the end of the line"),
    ("name: \"abc", 1, 7, "not closed"),
    ("name: \"\\q\"", 1, 8, "invalid escape"),
    ("name: \"\\x\"", 1, 8, "hex digits"),
    ("name: \"\\u12\"", 1, 8, "4 hex digits"),
    ("name: \"\\U0011FFFF\"", 1, 8, "invalid Unicode escape"),
    ("name: \"\\uDC00\"", 1, 8, "invalid Unicode escape"),
    ("name: \"\\ud800x\"", 1, 14, "unpaired"),
    ("name: \"\\xff\"", 1, 7, "not valid UTF-8"),
    ("layer { include { phase: TRAIN > }", 1, 32, "expected '}', found '>'"),
    ("layer < name: \"x\" }", 1, 19, "expected '>', found '}'"),
    ("force_backward: yes", 1, 17, "true or false"),
    ("force_backward: 2", 1, 17, "true or false"),
    ("force_backward: -1", 1, 17, "true or false"),
    ("force_backward: \"true\"", 1, 17, "found a string"),
    ("layer { convolution_param { weight_filler { std: 0x10 } } }", 1, 50, "decimal"),
    ("layer { convolution_param { weight_filler { std: 010 } } }", 1, 50, "decimal"),
    ("layer { convolution_param { weight_filler { std: abc } } }", 1, 50, "expected a number"),
    ("layer { convolution_param { weight_filler: \"x\" } }", 1, 44, "expected '{'"),
    ("layer { convolution_param { weight_filler: 5 } }", 1, 44, "expected '{'"),
    ("layer { name { } }", 1, 14, "not a message"),
    ("name: [\"a\", \"b\"]", 1, 8, "not repeated"),
    ("name: []", 1, 1, "not repeated"),
    ("input_dim [1, 2]", 1, 12, "expected ':'"),
    ("input_dim: [1, 2,]", 1, 18, "expected a value"),
    ("input_dim: [1 2]", 1, 15, "expected ',' or ']'"),
    ("input_dim: [1, 2", 1, 17, "expected ']'"),
    ("layer { 5: 3 }", 1, 9, "expected a field name"),
    ("name: \"a\" @", 1, 11, "expected a field name"),
    ("name: \"a\" ;;", 1, 12, "expected a field name"),
    ("}", 1, 1, "no block is open"),
    ("name:", 1, 6, "expected a value"),
    ("name: -", 1, 8, "expected a number after '-'"),
    ("input_dim: +1", 1, 12, "expected a value"),
    ("input_dim: 08", 1, 12, "octal"),
    ("input_dim: 1.2.3", 1, 15, "second decimal point"),
    ("input_dim: 012.5", 1, 15, "integers"),
    ("input_dim: 5abc", 1, 13, "need a space"),
    ("input_dim: 1e", 1, 12, "exponent"),
    ("input_dim: 0x", 1, 12, "hex digits"),
    ("input_dim: 0xfg", 1, 15, "need a space"),
    ("name: \"a\"\nlayer {\x00}", 2, 8, "unexpected character U+0000"),
    ("name: \"a\"\n  é: 1", 2, 3, "unexpected character 'é'"),
    ("[]: 1", 1, 1, "empty extension"),
    ("[a b]: 1", 1, 4, "expected an extension name"),
]


@pytest.mark.parametrize(("text", "line", "column", "part"), ERRORS)
def test_errors_have_positions(text: str, line: int, column: int, part: str) -> None:
    error = error_of(text)
    assert (error.line, error.column) == (line, column), str(error)
    assert part in error.message, str(error)
    assert str(error).startswith(f"t.prototxt:{line}:{column}: ")


def test_error_names_the_layer() -> None:
    error = error_of('layer { name: "conv9" convolution_param { num_output: x } }')
    assert error.layer == "conv9"
    assert "layer 'conv9'" in str(error)
    v0 = error_of('layers { layer { name: "old" num_output: x } }')
    assert v0.layer == "old"


def test_invalid_utf8_names_the_line() -> None:
    error = error_of(b'name: "a"\n# caf\xe9 comment\nlayer {}')
    assert (error.line, error.column) == (2, 6)
    assert "line 2" in error.message
    error = error_of(b'name: "\xc3"')
    assert error.line == 1


def test_unpaired_surrogate_in_str_input() -> None:
    error = error_of('name: "a"\nname: "\ud800"')
    assert error.line == 2


def test_missing_file() -> None:
    with pytest.raises(ParseError) as info:
        read_net("/nonexistent/dir/file.prototxt")
    assert info.value.path == "/nonexistent/dir/file.prototxt"
    with pytest.raises(ParseError):
        read_net(Path(__file__).parent)  # a directory
    with pytest.raises(ParseError):
        read_net("bad\x00name")


def test_reads_files_from_disk(tmp_path: Path) -> None:
    path = tmp_path / "net.prototxt"
    path.write_bytes(b'name: "disk"\r\nlayer { name: "a" }\r\n')
    source = read_net(path)
    assert source.path == str(path)
    assert source.param.name == "disk"
    assert source.layer_positions == [(2, 1)]


def test_parse_message_for_fillers() -> None:
    filler = pb.FillerParameter(type="uniform")
    warnings = parse_message('type: "xavier" variance_norm: AVERAGE', filler, path="--filler")
    assert warnings == []
    assert filler == pb.FillerParameter(type="xavier", variance_norm=pb.FillerParameter.AVERAGE)
    with pytest.raises(ParseError) as info:
        parse_message("type: xavier", filler, path="--filler")
    assert str(info.value).startswith("--filler:1:7: ")
    warnings = parse_message("stdd: 1", filler)
    assert warnings[0].hint == "did you mean 'std'?"


# ---------------------------------------------------------------- hostile input


def test_deep_nesting_is_a_parse_error() -> None:
    for text in ("a {" * 10000, "layer {" * 10000 + "}" * 10000, "a <" * 10000,
                 "a: [" * 10000, "layer { " * (MAX_DEPTH + 1) + "}" * (MAX_DEPTH + 1)):
        error = error_of(text)
        assert error.line == 1


def test_nesting_up_to_the_limit_is_fine() -> None:
    depth = MAX_DEPTH
    source = read_net("t", text="foo {" * depth + "}" * depth)
    assert len(source.warnings) == 1


def test_huge_numbers() -> None:
    filler = pb.FillerParameter()
    parse_message("std: " + "9" * 100000, filler)
    assert filler.std == math.inf
    parse_message("std: 1e99999999999999999999", filler)
    assert filler.std == math.inf
    parse_message("std: 0." + "0" * 100000 + "1", filler)
    assert filler.std == 0.0
    with pytest.raises(ParseError):
        parse_message("sparse: " + "9" * 100000, filler)
    with pytest.raises(ParseError):
        parse_message("sparse: 0x" + "f" * 100000, filler)


def _mutations(seed: int, base: bytes, count: int) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        data = bytearray(base)
        for _ in range(rng.randint(1, 6)):
            op = rng.randrange(4)
            pos = rng.randrange(len(data) + 1)
            if op == 0 and data:
                del data[min(pos, len(data) - 1)]
            elif op == 1:
                data[pos:pos] = bytes([rng.randrange(256)])
            elif op == 2:
                data[pos:pos] = rng.choice([b"{", b"}", b"<", b">", b"[", b"]", b":", b"-",
                                            b'"', b"'", b"\\", b"#", b"0x", b"1e", b".", b",",
                                            b"layer", b"\n", b"\xff", b"\xc3"])
            else:
                data = data[:pos]
        out.append(bytes(data))
    return out


HOSTILE_BASE = DATA / "upgrade" / "legacy_v1.prototxt"


def _only_parse_errors(data: bytes) -> None:
    try:
        read_net("h", text=data)
    except ParseError:
        pass
    except CaffefillError as exc:  # pragma: no cover - would be a bug
        raise AssertionError(f"{type(exc).__name__} for {data!r}") from exc


def test_random_bytes_raise_parse_error_only() -> None:
    rng = random.Random(1234)
    for _ in range(2000):
        size = rng.randrange(300)
        _only_parse_errors(bytes(rng.randrange(256) for _ in range(size)))


def test_random_token_soup_raises_parse_error_only() -> None:
    rng = random.Random(99)
    pieces = ["layer", "{", "}", "<", ">", "[", "]", ":", ",", ";", "-", "name", "type",
              '"s"', "'q'", "1", "0x1f", "07", "1.5", ".5", "1e5", "5f", "inf", "nan", "true",
              "MAX", "convolution_param", "weight_filler", "dim", "input_dim", "layers",
              "include", "phase", "TEST", "#c\n", "\n", " ", "std", "num_output", "x_filler"]
    for _ in range(3000):
        text = " ".join(rng.choice(pieces) for _ in range(rng.randrange(40)))
        _only_parse_errors(text.encode())


def test_mutated_real_file_raises_parse_error_only() -> None:
    base = HOSTILE_BASE.read_bytes()
    for data in _mutations(7, base, 1500):
        _only_parse_errors(data)


# ---------------------------------------------------------------- the corpus


def _corpus_files() -> list[Path]:
    root = SHARED / "corpus"
    if not root.exists():
        return []
    return sorted(p for p in root.rglob("*") if p.suffix in (".prototxt", ".pt"))


@pytest.mark.needs_shared
@pytest.mark.slow
def test_corpus_files_read_exactly_as_protobuf_reads_them() -> None:
    files = _corpus_files()
    clean: list[str] = []
    warned: list[str] = []
    for path in files:
        source = read_net(path)
        expected = text_format.Parse(path.read_text(encoding="utf-8"), pb.NetParameter())
        assert source.param == expected, path
        assert len(source.layer_positions) == len(source.param.layer)
        assert len(source.legacy_positions) == len(source.param.layers)
        (warned if source.warnings else clean).append(path.name)
    print(f"\ncorpus: {len(files)} files, {len(clean)} clean, {len(warned)} with warnings")
    assert len(files) == 47
    assert warned == []


@pytest.mark.needs_shared
@pytest.mark.slow
def test_corpus_layer_positions_point_at_layer_keywords() -> None:
    files = _corpus_files()
    for path in files:
        lines = path.read_text(encoding="utf-8").split("\n")
        source = read_net(path)
        for (line, column), kind in [(p, "layer") for p in source.layer_positions] + \
                [(p, "layers") for p in source.legacy_positions]:
            assert lines[line - 1][column - 1:].startswith(kind), (path, line, column)


@pytest.mark.needs_shared
@pytest.mark.slow
def test_corpus_filler_blocks_point_at_filler_names() -> None:
    files = _corpus_files()
    total = 0
    for path in files:
        lines = path.read_text(encoding="utf-8").split("\n")
        for block in read_net(path).filler_blocks:
            name = block.field_path.rsplit(".", 1)[-1]
            assert lines[block.line - 1][block.column - 1:].startswith(name), (path, block)
            total += 1
    assert total > 1000
