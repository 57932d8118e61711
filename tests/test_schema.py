"""The schema: Caffe-compatible FillerParameter, our own package, generated code current."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, text_format

from caffefill._proto import caffefill_pb2 as pb

ROOT = Path(__file__).resolve().parents[1]


def test_filler_parameter_matches_caffe() -> None:
    fields = {f.name: f for f in pb.FillerParameter.DESCRIPTOR.fields}
    expected = {"type": (1, "constant"), "value": (2, 0.0), "min": (3, 0.0), "max": (4, 1.0),
                "mean": (5, 0.0), "std": (6, 1.0), "sparse": (7, -1), "variance_norm": (8, 0)}
    for name, (number, default) in expected.items():
        assert fields[name].number == number
        assert fields[name].default_value == default
    norm = pb.FillerParameter.VarianceNorm
    assert (norm.Value("FAN_IN"), norm.Value("FAN_OUT"), norm.Value("AVERAGE")) == (0, 1, 2)


def test_blob_messages_keep_legacy_fields() -> None:
    blob = {f.name: f.number for f in pb.BlobProto.DESCRIPTOR.fields}
    assert blob["num"] == 1 and blob["channels"] == 2 and blob["height"] == 3
    assert blob["width"] == 4 and blob["data"] == 5 and blob["shape"] == 7
    assert blob["double_data"] == 8
    assert {f.name: f.number for f in pb.BlobShape.DESCRIPTOR.fields} == {"dim": 1}


def test_wire_compatible_round_trip() -> None:
    net = pb.NetParameter()
    text_format.Parse('name: "n" layer { name: "c" type: "Convolution" '
                      'convolution_param { num_output: 3 weight_filler { type: "xavier" } } }',
                      net)
    data = net.SerializeToString()
    # Caffe's field numbers: NetParameter.layer = 100, LayerParameter.convolution_param = 106.
    assert b"\xa2\x06" in data and b"\xd2\x06" in data


def test_own_package_name_no_clash_with_caffe_pb2() -> None:
    assert pb.DESCRIPTOR.package == "caffefill"
    # A pycaffe-like caffe.proto (package caffe, same message names) in the
    # same default pool must not clash with ours.
    proto = descriptor_pb2.FileDescriptorProto(name="caffe/proto/caffe.proto", package="caffe",
                                               syntax="proto2")
    msg = proto.message_type.add(name="FillerParameter")
    msg.field.add(name="type", number=1, type=9, label=1)
    descriptor_pool.Default().Add(proto)
    assert descriptor_pool.Default().FindMessageTypeByName("caffe.FillerParameter")
    assert pb.FillerParameter.DESCRIPTOR.full_name == "caffefill.FillerParameter"


def _embedded_schema(module_text: str) -> bytes:
    """The serialized FileDescriptorProto a generated module hands to the pool."""
    match = re.search(r"AddSerializedFile\(\s*(b'.*?')\s*\)", module_text, re.S)
    assert match is not None
    value = ast.literal_eval(match.group(1))
    assert isinstance(value, bytes)
    return value


def test_generated_module_is_current() -> None:
    # The module embeds exactly the schema protoc's own Python output embeds, but
    # carries no runtime version stamp (any protobuf from 3.20 on imports it).
    protoc = pytest.importorskip("grpc_tools.protoc")
    with tempfile.TemporaryDirectory() as out:
        args = ["protoc", f"-I{ROOT / 'proto'}", f"--python_out={out}",
                str(ROOT / "proto" / "caffefill.proto")]
        assert protoc.main(args) == 0
        fresh = (Path(out) / "caffefill_pb2.py").read_text()
    ours = Path(pb.__file__).read_text()
    assert _embedded_schema(ours) == _embedded_schema(fresh)
    assert "runtime_version" not in ours


def test_import_in_fresh_process() -> None:
    code = "import caffefill, caffefill._core; print(caffefill.__version__)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
