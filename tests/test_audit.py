"""caffefill audit: one failing and one passing net per rule, and the rule contract."""

from __future__ import annotations

import re

import pytest

from caffefill.audit import RULES, AuditOptions, Finding, audit_text
from caffefill.audit.finding import SEVERITIES
from caffefill.audit.rule import SECTIONS, Rule
from caffefill.audit.validate import classify, refusal
from caffefill.errors import ErrorKind
from caffefill.fillers import parse_filler
from caffefill.profiles import resolve

INPUT = """
name: "t"
layer { name: "data" type: "Input" top: "data"
        input_param { shape { dim: 2 dim: 3 dim: 8 dim: 8 } } }
"""


def conv(name: str, bottom: str, filler: str = 'type: "msra"', *, outputs: int = 4,
         extra: str = "", param: str = "", relu: bool = True, bias: str = "") -> str:
    text = (f'layer {{ name: "{name}" type: "Convolution" bottom: "{bottom}" top: "{name}" '
            f"{param} convolution_param {{ num_output: {outputs} kernel_size: 3 pad: 1 "
            f"{extra} weight_filler {{ {filler} }} {bias} }} }}\n")
    if relu:
        text += (f'layer {{ name: "{name}_relu" type: "ReLU" bottom: "{name}" '
                 f'top: "{name}" }}\n')
    return text


def head(bottom: str, filler: str = 'type: "xavier"') -> str:
    return (f'layer {{ name: "fc" type: "InnerProduct" bottom: "{bottom}" top: "fc" '
            f"inner_product_param {{ num_output: 10 weight_filler {{ {filler} }} }} }}\n"
            'layer { name: "label" type: "Input" top: "label" '
            "input_param { shape { dim: 2 } } }\n"
            'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc" bottom: "label" '
            'top: "loss" }\n')


def audit(text: str, **options: object) -> list[Finding]:
    if "caffe" in options:
        options["profile"] = resolve(str(options.pop("caffe")))
    report = audit_text("t.prototxt", text, AuditOptions(**options))  # type: ignore[arg-type]
    assert report.error is None, report.error
    return report.findings


def codes(text: str, **options: object) -> list[str]:
    return [f.code for f in audit(text, **options) if f.severity != "note"]


def only(text: str, code: str, **options: object) -> list[Finding]:
    return [f for f in audit(text, **options) if f.code == code]


# ---------------------------------------------------------------- the contract


def test_rules_have_unique_codes_matching_their_severity() -> None:
    seen = set()
    for rule in RULES:
        assert re.fullmatch(r"CF[1-3]\d\d", rule.code), rule
        assert rule.code not in seen
        seen.add(rule.code)
        expected = {"1": "error", "2": "warning", "3": "info"}[rule.code[2]]
        assert rule.severity == expected, rule.code
        assert rule.severity in SEVERITIES
        assert rule.tier in ("source", "structure", "shapes")
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", rule.name)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_every_rule_documents_the_four_sections(rule: type[Rule]) -> None:
    sections = rule.sections()
    for title in SECTIONS:
        assert sections.get(title), f"{rule.code} lacks '{title}'"
    assert rule.summary() and rule.summary().endswith(".")
    assert rule.code in rule.explain()


# ---------------------------------------------------------------- CF100


def test_cf100_setup_error_at_the_layer() -> None:
    bad = INPUT + conv("conv1", "data", outputs=0)
    found = only(bad, "CF100")
    assert len(found) == 1
    assert found[0].layer == "conv1" and found[0].line == 5
    assert "num_output" in found[0].message
    notes = [f for f in audit(bad) if f.severity == "note"]
    assert notes and "structure and shape rules skipped" in notes[0].message
    assert "CF100" not in codes(INPUT + conv("conv1", "data") + head("conv1"))


# ---------------------------------------------------------------- CF101 / CF102 / CF306


def test_cf101_hidden_layer_without_filler() -> None:
    bad = INPUT + conv("conv1", "data").replace('weight_filler { type: "msra" }', "") + \
        conv("conv2", "conv1") + head("conv2")
    found = only(bad, "CF101")
    assert [f.layer for f in found] == ["conv1"]
    assert found[0].line == 5 and found[0].column == 1
    good = INPUT + conv("conv1", "data") + conv("conv2", "conv1") + head("conv2")
    assert "CF101" not in codes(good)


def test_cf101_exemptions() -> None:
    # An output layer (feeds only the loss) may start at zero.
    zero_head = INPUT + conv("conv1", "data") + head("conv1", 'type: "constant"').replace(
        'weight_filler { type: "constant" }', "")
    assert "CF101" not in codes(zero_head)
    # Frozen weights come from elsewhere.
    frozen = INPUT + conv("conv1", "data", param="param { lr_mult: 0 }").replace(
        'weight_filler { type: "msra" }', "") + conv("conv2", "conv1") + head("conv2")
    assert "CF101" not in codes(frozen)
    # A pretrained front: two layers without any filler, no filled layer above.
    front = INPUT + conv("conv1", "data").replace('weight_filler { type: "msra" }', "") + \
        conv("conv2", "conv1").replace('weight_filler { type: "msra" }', "") + head("conv2")
    assert "CF101" not in codes(front)
    assert "CF306" in codes(front)


def test_cf101_a_bias_filler_alone_is_not_a_pretrained_front() -> None:
    text = INPUT + conv("conv1", "data", bias='bias_filler { type: "constant" }').replace(
        'weight_filler { type: "msra" }', "") + \
        conv("conv2", "conv1", bias='bias_filler { type: "constant" }').replace(
            'weight_filler { type: "msra" }', "") + head("conv2")
    assert codes(text).count("CF101") == 2
    assert "CF306" not in codes(text)


def test_cf102_constant_weights() -> None:
    bad = INPUT + conv("conv1", "data", 'type: "constant" value: 0.01') + \
        conv("conv2", "conv1") + head("conv2")
    found = only(bad, "CF102")
    assert len(found) == 1 and found[0].layer == "conv1"
    assert found[0].line == 5 and (found[0].column or 0) > 1  # the filler block
    degenerate = INPUT + conv("conv1", "data", 'type: "uniform" min: 0.1 max: 0.1') + \
        conv("conv2", "conv1") + head("conv2")
    assert "CF102" in codes(degenerate)
    good = INPUT + conv("conv1", "data", bias='bias_filler { type: "constant" value: 0.1 }') \
        + conv("conv2", "conv1") + head("conv2", 'type: "constant"')
    assert "CF102" not in codes(good)


def test_cf102_scale_and_prelu_constants_are_fine() -> None:
    text = INPUT + conv("conv1", "data", relu=False) + (
        'layer { name: "scale" type: "Scale" bottom: "conv1" top: "conv1" '
        "scale_param { filler { value: 1 } } }\n"
        'layer { name: "prelu" type: "PReLU" bottom: "conv1" top: "conv1" }\n'
    ) + conv("conv2", "conv1") + head("conv2")
    assert "CF102" not in codes(text)


# ---------------------------------------------------------------- filler refusals


@pytest.mark.parametrize(("code", "bad", "good"), [
    ("CF103", 'type: "Xavier"', 'type: "xavier"'),
    ("CF104", 'type: "xavier" sparse: 2', 'type: "gaussian" std: 0.1 sparse: 2'),
    ("CF105", 'type: "gaussian" std: 0.1 sparse: -2', 'type: "gaussian" std: 0.1 sparse: 3'),
    ("CF106", 'type: "uniform" min: 0.1 max: -0.1', 'type: "uniform" min: -0.1 max: 0.1'),
    ("CF106", 'type: "uniform" min: 2', 'type: "uniform" min: 0.5'),
    ("CF109", 'type: "gaussian" std: 0', 'type: "gaussian" std: 0.01'),
])
def test_parameter_refusals(code: str, bad: str, good: str) -> None:
    found = only(INPUT + conv("conv1", "data", bad) + head("conv1"), code)
    assert len(found) == 1
    assert found[0].line == 5 and found[0].layer == "conv1"
    assert code not in codes(INPUT + conv("conv1", "data", good) + head("conv1"))


def test_cf103_names_the_nearest_type() -> None:
    (found,) = only(INPUT + conv("conv1", "data", 'type: "gausian"') + head("conv1"), "CF103")
    assert '"gaussian"' in found.message


def test_parameter_refusals_need_no_shapes() -> None:
    text = """
layer { name: "data" type: "Data" top: "data" top: "label" data_param { batch_size: 2 } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 4 kernel_size: 3 weight_filler { type: "Xavier" } } }
"""
    found = audit(text)
    assert [f.code for f in found if f.code == "CF103"] == ["CF103"]
    notes = [f for f in found if f.severity == "note"]
    assert len(notes) == 1 and "needs --input data=" in notes[0].message


def test_cf105_sparse_larger_than_outputs() -> None:
    ip = ('layer {{ name: "ip" type: "InnerProduct" bottom: "data" top: "ip" '
          'inner_product_param {{ num_output: 10 weight_filler {{ type: "gaussian" std: 1 '
          "sparse: {} }} }} }}\n")
    found = only(INPUT + ip.format(15), "CF105")
    assert len(found) == 1 and "15" in found[0].message
    assert "CF105" not in codes(INPUT + ip.format(5))


def deconv(kernel: str, filler: str = 'type: "bilinear"', *, group: int = 3,
           outputs: int = 3, param: str = "param { lr_mult: 0 }", stride: int = 2,
           bottom: str = "data", kind: str = "Deconvolution") -> str:
    return (f'layer {{ name: "up" type: "{kind}" bottom: "{bottom}" top: "up" {param} '
            f"convolution_param {{ num_output: {outputs} group: {group} {kernel} "
            f"stride: {stride} bias_term: false weight_filler {{ {filler} }} }} }}\n")


def test_cf107_bilinear_on_a_rectangle() -> None:
    found = only(INPUT + deconv("kernel_h: 4 kernel_w: 2"), "CF107")
    assert len(found) == 1 and "square" in found[0].message
    assert "CF107" not in codes(INPUT + deconv("kernel_size: 4"))


def test_cf107_bilinear_on_a_5d_blob() -> None:
    volume = INPUT.replace("dim: 8 dim: 8", "dim: 4 dim: 8 dim: 8")
    assert "CF107" in codes(volume + deconv("kernel_size: 4"))


def test_cf108_and_cf305_nd_fans_depend_on_the_profile() -> None:
    volume = INPUT.replace("dim: 8 dim: 8", "dim: 4 dim: 8 dim: 8")
    text = volume + conv("conv1", "data") + head("conv1")
    old = codes(text)
    assert "CF108" in old and "CF305" not in old
    new = codes(text, caffe="master")
    assert "CF108" not in new and "CF305" in new
    flat = INPUT + conv("conv1", "data") + head("conv1")
    assert "CF108" not in codes(flat) and "CF305" not in codes(flat, caffe="master")


# ---------------------------------------------------------------- CF201


def test_cf201_ignored_fields() -> None:
    (found,) = only(INPUT + conv("conv1", "data", 'type: "xavier" std: 0.01') + head("conv1"),
                    "CF201")
    assert found.message.startswith("std is ignored by the xavier filler")
    assert "gaussian" in (found.fix or "")
    bias = INPUT + conv("conv1", "data", bias='bias_filler { type: "gaussian" value: 0.1 }') \
        + head("conv1")
    (found,) = only(bias, "CF201")
    assert "value" in found.message and "constant" in (found.fix or "")
    several = only(INPUT + conv("conv1", "data", 'type: "msra" min: -1 mean: 0') +
                   head("conv1"), "CF201")
    assert len(several) == 1 and "min, mean are ignored" in several[0].message
    good = INPUT + conv("conv1", "data", 'type: "xavier" variance_norm: AVERAGE') + \
        head("conv1")
    assert "CF201" not in codes(good)


def test_cf201_a_default_value_written_out_still_counts() -> None:
    text = INPUT + conv("conv1", "data", 'type: "gaussian" std: 0.01 value: 0') + head("conv1")
    assert "CF201" in codes(text)


# ---------------------------------------------------------------- CF202


def deep(filler: str, depth: int = 10, activation: str = "ReLU") -> str:
    text = INPUT
    bottom = "data"
    for i in range(depth):
        name = f"conv{i}"
        text += conv(name, bottom, filler, outputs=16, relu=False)
        text += (f'layer {{ name: "{name}_act" type: "{activation}" bottom: "{name}" '
                 f'top: "{name}" }}\n')
        bottom = name
    return text + head(bottom)


def test_cf202_small_gaussians_make_the_signal_vanish() -> None:
    (found,) = only(deep('type: "gaussian" std: 0.01'), "CF202")
    assert "shrinks past 100x" in found.message
    assert found.layer == "conv1"  # 3x3x3 then 3x3x16 at std 0.01: ~1/200 by conv1
    assert 'type: "msra"' in (found.fix or "")
    assert "CF202" not in codes(deep('type: "msra"'))
    assert "CF202" not in codes(deep('type: "gaussian" std: 0.01'), signal_threshold=1e15)


def test_cf202_large_scales_explode() -> None:
    (found,) = only(deep('type: "gaussian" std: 1'), "CF202")
    assert "grows past" in found.message


def test_cf202_batchnorm_resets_the_scale() -> None:
    text = INPUT
    bottom = "data"
    for i in range(10):
        name = f"conv{i}"
        text += conv(name, bottom, 'type: "gaussian" std: 0.01', outputs=16, relu=False)
        text += (f'layer {{ name: "{name}_bn" type: "BatchNorm" bottom: "{name}" '
                 f'top: "{name}" }}\n'
                 f'layer {{ name: "{name}_relu" type: "ReLU" bottom: "{name}" '
                 f'top: "{name}" }}\n')
        bottom = name
    assert "CF202" not in codes(text + head(bottom))


def test_cf202_xavier_in_a_tanh_net_is_stable() -> None:
    assert "CF202" not in codes(deep('type: "xavier"', activation="TanH"))


def test_cf202_needs_shapes() -> None:
    text = deep('type: "gaussian" std: 0.01').replace(
        'type: "Input" top: "data"\n        input_param { shape { dim: 2 dim: 3 dim: 8 dim: 8 } }',
        'type: "Data" top: "data" data_param { batch_size: 2 }')
    found = audit(text)
    assert "CF202" not in [f.code for f in found]
    assert any(f.severity == "note" and "CF202" in f.message for f in found)
    with_input = audit(text, inputs={"data": (3, 8, 8)})
    assert "CF202" in [f.code for f in with_input]
    assert not any(f.severity == "note" for f in with_input)


# ---------------------------------------------------------------- bilinear


def test_cf203_bilinear_not_channel_wise_or_trained() -> None:
    (found,) = only(INPUT + deconv("kernel_size: 4", group=1, param=""), "CF203")
    assert "channel-wise" in found.message and "lr_mult is 1" in found.message
    on_conv = INPUT + deconv("kernel_size: 4", kind="Convolution")
    assert "Convolution layer" in only(on_conv, "CF203")[0].message
    assert "CF203" not in codes(INPUT + deconv("kernel_size: 4"))


def test_cf204_kernel_matches_stride() -> None:
    (found,) = only(INPUT + deconv("kernel_size: 3"), "CF204")
    assert "kernel_size 4" in found.message
    assert "CF204" not in codes(INPUT + deconv("kernel_size: 4"))
    assert "CF204" not in codes(INPUT + deconv("kernel_size: 16", stride=8))


def test_cf304_bilinear_kernels_that_differ_between_builds() -> None:
    found = only(INPUT + deconv("kernel_size: 3"), "CF304")
    assert len(found) == 1 and "0.75 vs. 0.5" in found[0].message
    for size, stride in ((4, 2), (16, 8), (5, 3)):
        assert "CF304" not in codes(INPUT + deconv(f"kernel_size: {size}", stride=stride))


def test_cf304_matches_the_two_formulas() -> None:
    from caffefill.audit.rules.bilinear_profile import centres, kernels_differ

    for k in range(1, 40):
        f = -(-k // 2)
        old = (2 * f - 1 - f % 2) / (2 * f)
        new = (k - 1) / (2 * f)
        assert centres(k) == (old, new)
        assert kernels_differ(k) == (old != new) == (k % 4 in (2, 3)), k
    assert kernels_differ(1002) and not kernels_differ(1024)


# ---------------------------------------------------------------- params


def test_cf205_shared_param_fillers_differ() -> None:
    base = INPUT + conv("a", "data", param='param { name: "w" }') + \
        conv("b", "data", "{}", param='param { name: "w" }')
    (found,) = only(base.replace("{}", 'type: "gaussian" std: 0.01'), "CF205")
    assert found.layer == "b" and "owned by layer 'a'" in found.message
    assert "CF205" not in codes(base.replace("{}", 'type: "msra"'))


def test_cf206_transposed_inner_product() -> None:
    ip = ('layer {{ name: "ip" type: "InnerProduct" bottom: "data" top: "ip" '
          "inner_product_param {{ num_output: 10 transpose: true "
          'weight_filler {{ type: "msra" {} }} }} }}\n')
    (found,) = only(INPUT + ip.format(""), "CF206")
    assert "192" in found.message and "FAN_OUT" in (found.fix or "")
    assert "CF206" not in codes(INPUT + ip.format("variance_norm: AVERAGE"))
    assert "CF206" not in codes(INPUT + ip.format("").replace("transpose: true", ""))


def test_cf207_frozen_random_weights() -> None:
    frozen = 'param { lr_mult: 0 }'
    later = INPUT + conv("conv1", "data") + conv("conv2", "conv1", param=frozen) + head("conv2")
    (found,) = only(later, "CF207")
    assert found.layer == "conv2" and "frozen" in found.message
    front = INPUT + conv("conv1", "data", param=frozen) + \
        conv("conv2", "conv1", param=frozen) + conv("conv3", "conv2") + head("conv3")
    (found,) = only(front, "CF207")
    assert "2 frozen layers at the front" in found.message
    fixed = INPUT + conv("conv1", "data", 'type: "constant" value: 0.1', param=frozen) + \
        conv("conv2", "conv1") + head("conv2")
    assert "CF207" not in codes(fixed)
    assert "CF207" not in codes(INPUT + deconv("kernel_size: 4"))


def test_cf208_gaussian_without_std() -> None:
    assert "CF208" in codes(INPUT + conv("conv1", "data", 'type: "gaussian"') + head("conv1"))
    assert "CF208" not in codes(INPUT + conv("conv1", "data", 'type: "gaussian" std: 1') +
                                head("conv1"))


def test_cf209_one_sided_weights() -> None:
    assert "CF209" in codes(INPUT + conv("conv1", "data", 'type: "uniform"') + head("conv1"))
    assert "CF209" in codes(INPUT + conv("conv1", "data", 'type: "gaussian" mean: 0.1 '
                                                          "std: 0.01") + head("conv1"))
    assert "CF209" not in codes(INPUT + conv("conv1", "data", 'type: "uniform" min: -0.1 '
                                                              "max: 0.1") + head("conv1"))


# ---------------------------------------------------------------- info


def test_cf301_xavier_before_relu_once_per_net() -> None:
    text = INPUT + conv("conv1", "data", 'type: "xavier"') + \
        conv("conv2", "conv1", 'type: "xavier"') + head("conv2")
    (found,) = only(text, "CF301")
    assert found.layer == "conv1" and "2 layers" in found.message
    assert "CF301" not in codes(INPUT + conv("conv1", "data") + head("conv1"))
    normalized = INPUT + conv("conv1", "data", 'type: "xavier"', relu=False) + (
        'layer { name: "bn" type: "BatchNorm" bottom: "conv1" top: "conv1" }\n'
        'layer { name: "relu" type: "ReLU" bottom: "conv1" top: "conv1" }\n') + head("conv1")
    assert "CF301" not in codes(normalized)


def test_cf302_msra_before_tanh() -> None:
    tanh = ('layer { name: "act" type: "TanH" bottom: "conv1" top: "conv1" }\n')
    assert "CF302" in codes(INPUT + conv("conv1", "data", relu=False) + tanh + head("conv1"))
    assert "CF302" not in codes(INPUT + conv("conv1", "data", 'type: "xavier"', relu=False) +
                                tanh + head("conv1"))


V1 = """
name: "v1"
input: "data" input_dim: 1 input_dim: 3 input_dim: 8 input_dim: 8
layers { name: "conv1" type: CONVOLUTION bottom: "data" top: "conv1" blobs_lr: 1
         convolution_param { num_output: 4 kernel_size: 3 weight_filler { type: "msra" } } }
"""


def test_cf303_legacy_syntax() -> None:
    (found,) = only(V1, "CF303")
    assert found.line == 4 and found.column == 1 and "V1" in found.message  # "layers {"
    assert "caffefill upgrade" in (found.fix or "")
    assert "CF303" not in codes(INPUT + conv("conv1", "data") + head("conv1"))


def test_cf307_unused_filler() -> None:
    text = INPUT + conv("conv1", "data", extra="bias_term: false",
                        bias='bias_filler { type: "constant" value: 0.1 }') + head("conv1")
    (found,) = only(text, "CF307")
    assert "bias_term is false" in found.message
    wrong_param = INPUT + ('layer { name: "pool" type: "Pooling" bottom: "data" top: "pool" '
                           "pooling_param { kernel_size: 2 stride: 2 } "
                           'convolution_param { weight_filler { type: "msra" } } }\n')
    assert "does not read convolution_param" in only(wrong_param, "CF307")[0].message
    assert "CF307" not in codes(INPUT + conv("conv1", "data") + head("conv1"))


# ---------------------------------------------------------------- the machinery


def test_unknown_layer_type_keeps_structure_rules() -> None:
    text = INPUT + conv("conv1", "data", 'type: "xavier"') + (
        'layer { name: "odd" type: "FancyNorm" bottom: "conv1" top: "odd" }\n') + \
        conv("conv2", "odd", 'type: "constant"') + conv("conv3", "conv2") + head("conv3")
    found = audit(text)
    assert "CF102" in [f.code for f in found]  # structure rules ran
    notes = [f for f in found if f.severity == "note"]
    assert len(notes) == 1 and "FancyNorm" in notes[0].message
    assert "CF202" in notes[0].message


def test_findings_are_sorted_and_notes_last() -> None:
    text = INPUT + conv("conv1", "data", 'type: "xavier" std: 1') + \
        conv("conv2", "conv1", 'type: "Xavier"') + head("conv2")
    found = audit(text)
    lines = [f.line or 0 for f in found if f.severity != "note"]
    assert lines == sorted(lines)


def test_validation_draws_nothing_and_needs_no_memory() -> None:
    profile = resolve()
    big = (100_000, 20_000)  # 8 GB of float32 if it were touched
    assert refusal(parse_filler('type: "msra"'), big, profile) is None
    assert refusal(parse_filler('type: "gaussian" std: 0.01'), big, profile) is None
    error = refusal(parse_filler('type: "gaussian" std: 1 sparse: 200000'), big, profile)
    assert error is not None and classify(error) == "CF105"
    error = refusal(parse_filler('type: "xavier"'), (2, 3, 4, 5, 6), profile)
    assert error is not None and classify(error) == "CF108"
    assert refusal(parse_filler('type: "xavier"'), (2, 3, 4, 5, 6), resolve("master")) is None


@pytest.mark.parametrize(("filler", "shape", "kind", "code"), [
    ('type: "fancy"', (2, 3), ErrorKind.UNKNOWN_FILLER, "CF103"),
    ('type: "xavier" sparse: 2', (2, 3), ErrorKind.SPARSE_UNSUPPORTED, "CF104"),
    ('type: "gaussian" sparse: -2', (2, 3), ErrorKind.SPARSE_BELOW_DENSE, "CF105"),
    ('type: "gaussian" sparse: 5', (2, 3), ErrorKind.SPARSE_TOO_DENSE, "CF105"),
    ('type: "uniform" min: 2', (2, 3), ErrorKind.UNIFORM_MIN_ABOVE_MAX, "CF106"),
    ('type: "bilinear"', (2, 3), ErrorKind.BILINEAR_NOT_4D, "CF107"),
    ('type: "bilinear"', (1, 1, 2, 3), ErrorKind.BILINEAR_NOT_SQUARE, "CF107"),
    ('type: "xavier"', (1, 1, 1, 1, 1), ErrorKind.LEGACY_AXES, "CF108"),
    ('type: "gaussian" std: 0', (2, 3), ErrorKind.NONPOSITIVE_SIGMA, "CF109"),
    ('type: "gaussian"', (0, 3), ErrorKind.EMPTY_BLOB, "CF100"),
])
def test_refusals_are_classified_by_kind(filler: str, shape: tuple[int, ...], kind: ErrorKind,
                                         code: str) -> None:
    error = refusal(parse_filler(filler), shape, resolve())
    assert error is not None and error.kind is kind and classify(error) == code
    assert (error.caffe_message or "").startswith("Check failed: ")


def test_setup_errors_are_told_apart_by_kind_not_text() -> None:
    # A layer name that reads like an --input hint does not make its error a missing input.
    text = INPUT + 'layer { name: "--input nope=1,2" type: "ReLU" bottom: "nope" top: "r" }\n'
    found = audit(text)
    assert [f.code for f in found] == ["CF100", "CF000"]
    assert "unknown bottom blob 'nope'" in found[0].message


@pytest.mark.parametrize("text", [
    "", "layer {", "layer { name: 'x' type: 'Convolution' }", "\x00\x01garbage",
    "layer { " * 200 + "}" * 200, 'layer { name: "a" type: "InnerProduct" bottom: "nothing" }',
    'layers { layer { name: "c" type: "conv" } }',
    INPUT + 'layer { name: "c" type: "Convolution" bottom: "data" top: "c" '
            "convolution_param { num_output: 2 kernel_size: 99 } }",
])
def test_bad_input_never_raises(text: str) -> None:
    report = audit_text("bad.prototxt", text, AuditOptions())
    assert report.error is not None or isinstance(report.findings, list)
    assert not any("failed:" in f.message for f in report.findings if f.severity == "note")


def test_cf100_hints_at_the_phase_when_layers_are_left_out() -> None:
    text = INPUT.replace('top: "data"\n', 'top: "data" include { phase: TRAIN }\n') + \
        conv("conv1", "data") + head("conv1")
    assert "CF100" not in codes(text)
    (found,) = only(text, "CF100", phase="TEST")
    assert "unknown bottom blob 'data'" in found.message
    assert "another --phase or --stage" in found.message


def test_cf202_raw_pixel_inputs_may_shrink_to_unit_scale() -> None:
    data = """
layer { name: "data" type: "Data" top: "data" top: "label"
        transform_param { mean_value: 104 mean_value: 117 mean_value: 123 }
        data_param { batch_size: 2 } }
"""
    body = conv("conv1", "data", 'type: "gaussian" std: 0.001', relu=False) + head("conv1")
    # std 65 pixels x sqrt(27) x 0.001 = 0.34: down to unit scale, not a vanishing signal.
    assert "CF202" not in codes(data + body, inputs={"data": (3, 8, 8)})
    # The same layer on a unit-scaled input leaves 0.005 of it (x0.92: a 3x3 kernel's
    # taps on the zero padding of an 8x8 map).
    (found,) = only(INPUT + body, "CF202")
    assert "1/210" in found.message


# ---------------------------------------------------------------- CF110, CF111


def test_cf110_unknown_field_is_an_error_with_the_field_it_meant() -> None:
    net = INPUT + conv("conv1", "data", 'type: "gaussian" weight_std: 0.01') + head("conv1")
    (finding,) = only(net, "CF110")
    assert finding.severity == "error" and finding.layer == "conv1"
    assert "unknown field 'weight_std' in FillerParameter" in finding.message
    assert "did you mean 'std'?" in finding.message
    assert codes(INPUT + conv("conv1", "data", 'type: "gaussian" std: 0.01') + head("conv1")
                 ).count("CF110") == 0


def test_cf110_allow_list_by_name_or_by_message() -> None:
    net = INPUT + conv("conv1", "data", 'type: "msra" my_gain: 2') + head("conv1")
    assert only(net, "CF110")
    assert not only(net, "CF110", allow_fields=("my_gain",))
    assert not only(net, "CF110", allow_fields=("FillerParameter.my_gain",))
    assert only(net, "CF110", allow_fields=("LayerParameter.my_gain",))


def test_cf110_fork_fields_caffefill_knows_stay_quiet() -> None:
    ssd = INPUT + ('layer { name: "norm" type: "Normalize" bottom: "data" top: "norm" '
                   'norm_param { across_spatial: false scale_filler { type: "constant" '
                   'value: 20 } channel_shared: false } }\n')
    assert not only(ssd, "CF110")


@pytest.mark.parametrize(("kind", "expected"), [
    ("Axpy", "it comes from SENet's Caffe"),
    ("Convolutoin", "did you mean 'Convolution'?"),
])
def test_cf111_unknown_layer_type_names_the_fork_or_the_typo(kind: str, expected: str) -> None:
    net = INPUT + conv("conv1", "data", relu=False) + (
        f'layer {{ name: "odd" type: "{kind}" bottom: "conv1" top: "odd" }}\n') + head("odd")
    (finding,) = only(net, "CF111")
    assert finding.severity == "error" and finding.layer == "odd"
    assert expected in finding.message
    # The rules run past the unknown layer (shape rules skipped, with a note).
    assert any(f.code == "CF000" and "shape rules skipped" in f.message for f in audit(net))


def test_cf111_no_far_fetched_suggestion() -> None:
    net = INPUT + ('layer { name: "odd" type: "Reorg" bottom: "data" top: "odd" }\n')
    (finding,) = only(net, "CF111")
    assert "did you mean" not in finding.message
    assert "YOLOv2" in finding.message
    net = INPUT + ('layer { name: "odd" type: "Zebra" bottom: "data" top: "odd" }\n')
    (finding,) = only(net, "CF111")
    assert "did you mean" not in finding.message and "comes from" not in finding.message


def test_cf103_keeps_caffes_types_apart_from_caffefills_own() -> None:
    (found,) = only(INPUT + conv("conv1", "data", 'type: "Xavier"') + head("conv1"), "CF103")
    caffe_part, own_part = found.message.split(";", 1)
    assert "Caffe's types are constant, gaussian, positive_unitball, uniform, xavier, " \
        "msra, bilinear" in caffe_part
    assert "orthogonal" not in caffe_part and "trunc_normal" not in caffe_part
    assert "orthogonal" in own_part and "no Caffe can read" in own_part


@pytest.mark.parametrize("name", ["orthogonal", "trunc_normal"])
def test_cf103_reports_caffefills_own_fillers(name: str) -> None:
    (found,) = only(INPUT + conv("conv1", "data", f'type: "{name}"') + head("conv1"), "CF103")
    assert f'"{name}" is caffefill\'s own' in found.message
    assert "no Caffe can use this prototxt" in found.message
    assert found.line == 5 and found.layer == "conv1"


def test_cf103_typo_of_an_own_filler_says_it_is_own() -> None:
    (found,) = only(INPUT + conv("conv1", "data", 'type: "Orthogonal"') + head("conv1"),
                    "CF103")
    assert 'did you mean "orthogonal" (caffefill\'s own)?' in found.message
