"""The DataReader era (``caffe="rc3"``): one more raw draw per Data layer,
and warnings where a fork's data layer cannot be matched to the profile.
The weights themselves are checked against real Caffe in test_init.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from caffefill.cli import main
from caffefill.init import PreparedNet, prepare_net
from caffefill.net.spec import RandDraw

DATA_NET = """name: "n"
layer { name: "d" type: "Data" top: "data" top: "label"
  data_param { source: "x" batch_size: 2 } transform_param { mirror: true } }
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
  inner_product_param { num_output: 3 weight_filler { type: "uniform" } } }
"""

SSD_NET = """name: "ssd"
layer { name: "d" type: "AnnotatedData" top: "data" top: "label"
  data_param { source: "x" batch_size: 2 } }
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
  inner_product_param { num_output: 3 weight_filler { type: "uniform" } } }
"""

TSN_NET = """name: "tsn"
layer { name: "d" type: "VideoData" top: "data"
  video_data_param { video_type: VIDEO video_file: "v.mp4" } }
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
  inner_product_param { num_output: 3 } }
"""


def _prepared(tmp_path: Path, text: str, caffe: str) -> PreparedNet:
    net = tmp_path / "net.prototxt"
    net.write_text(text)
    return prepare_net(net, phase="TRAIN", seed=1, caffe=caffe, inputs={"data": (2, 3, 4, 4)})


def _raw_draws(prepared: PreparedNet) -> int:
    return sum(d.count for layer in prepared.model.layers for d in layer.draws
               if isinstance(d, RandDraw))


@pytest.mark.parametrize("text", [DATA_NET, SSD_NET])
def test_the_data_reader_takes_one_more_draw(tmp_path: Path, text: str) -> None:
    assert _raw_draws(_prepared(tmp_path, text, "rc3")) == \
        _raw_draws(_prepared(tmp_path, text, "1.0")) + 1


def test_ssd_data_layer_outside_its_era_is_a_guess(tmp_path: Path) -> None:
    warned = [str(w) for w in _prepared(tmp_path, SSD_NET, "1.0").warnings]
    assert any("AnnotatedData comes from SSD" in w and "--caffe rc3" in w for w in warned)
    assert not _prepared(tmp_path, SSD_NET, "rc3").warnings
    assert not _prepared(tmp_path, DATA_NET, "1.0").warnings


def test_a_video_data_layer_without_data_param_is_not_ssds(tmp_path: Path) -> None:
    warned = [str(w) for w in _prepared(tmp_path, TSN_NET, "rc3").warnings]
    assert any("TSN" in w and "guess" in w for w in warned)


def test_cli_profile_rc3_and_its_help(tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    net = tmp_path / "net.prototxt"
    net.write_text(DATA_NET)
    assert main(["show", str(net), "--caffe", "rc3", "--input", "data=2,3,4,4"]) == 0
    with pytest.raises(SystemExit):
        main(["init", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "rc3: BVLC Caffe from August 2015" in text
    assert "SSD (weiliu89/caffe)" in text


def test_a_registered_fork_data_layer_says_its_draws_are_a_guess(tmp_path: Path) -> None:
    """Where a data layer comes from lives in its registry entry (fork_draws), so
    a type registered with it is warned about like the built-in ones."""
    from caffefill.net.registry import REGISTRY, LayerContext, LayerSetup, Traits, register

    @register("MyForkData", traits=Traits("labelled_source",
                                          fork_draws=("my fork (me/caffe)", "rc3")))
    def my_fork_data(ctx: LayerContext) -> LayerSetup:
        return LayerSetup(tops=[(2, 3, 4, 4)])

    try:
        text = SSD_NET.replace('"AnnotatedData"', '"MyForkData"').replace(
            'top: "label"\n  data_param { source: "x" batch_size: 2 }', "")
        warned = [str(w) for w in _prepared(tmp_path, text, "1.0").warnings]
        assert any("MyForkData comes from my fork (me/caffe)" in w and "--caffe rc3" in w
                   for w in warned)
        assert not any("MyForkData" in str(w) for w in _prepared(tmp_path, text, "rc3").warnings)
    finally:
        del REGISTRY["MyForkData"]
