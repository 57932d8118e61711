"""Filler overrides: another filler for some layers, as if the prototxt said so.

An override is written ``PATTERN=FILLER`` (``--filler`` on the command line,
``fillers=[...]`` in the API):

* ``PATTERN`` is a glob on layer names (:func:`fnmatch.fnmatchcase`: ``*``,
  ``?``, ``[...]``; case matters); without ``PATTERN=`` it is ``*``.  It ends
  in ``.weight`` (the default) or ``.bias`` to say which filler it replaces:

  - ``weight``: the filler of the layer's first learnable blob that is not a
    bias (``weight_filler`` of Convolution, Deconvolution, InnerProduct,
    Embed, LSTM/RNN; the ``filler`` of Scale and PReLU; the scale filler of
    BN and Normalize);
  - ``bias``: its bias filler (``bias_filler``; Bias's ``filler``; SegNet
    BN's ``shift_filler``).

  A trailing ``.weight`` or ``.bias`` is always read as the target: a layer
  whose own name ends in ``.bias`` is matched by ``NAME.bias.weight``.
* ``FILLER`` is the body of a Caffe FillerParameter in prototxt syntax
  (``type: "gaussian" std: 0.01``), or a bare type name (``msra``).

An override edits the net's prototxt and nothing else: the layer's filler
field is replaced by ``FILLER`` and the net is set up again, so its draws come
from Caffe's one stream in Caffe's order, exactly as Caffe would draw the
edited prototxt (every other blob's draws shift as they would).  When
several overrides match a layer's filler, the last one wins.  An override
whose pattern matches no layer with that filler is an error (a typo must not
silently do nothing), and so are an unknown filler type and a field the
filler does not read.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ._proto import caffefill_pb2 as pb
from .errors import FillerError, NetError
from .fillers import filler_spec, parse_filler
from .messages import nearest
from .net.model import NetLayer, NetModel, build_model
from .profiles import Profile

Target = Literal["weight", "bias"]
TARGETS: tuple[Target, ...] = ("weight", "bias")

#: The filler fields of a layer's bias term (besides the ``bias`` role).
_BIAS_FIELDS = ("bias_filler", "shift_filler")

_BARE_TYPE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_GLOB = re.compile(r"[*?\[]")

#: What ``--help`` and errors say an override looks like.
SYNTAX = "PATTERN[.weight|.bias]=FILLER"


@dataclass(frozen=True)
class FillerOverride:
    """One parsed override (see the module docstring)."""

    #: The glob on layer names.
    pattern: str
    #: Which of a layer's fillers it replaces.
    target: Target
    #: The filler that replaces it.
    filler: pb.FillerParameter
    #: The override as given (for messages and metadata).
    text: str

    def matches(self, layer_name: str) -> bool:
        return fnmatch.fnmatchcase(layer_name, self.pattern)

    def filler_text(self) -> str:
        """The filler in prototxt syntax, on one line (``type: "msra"``)."""
        return " ".join(str(self.filler).split())

    def record(self, layers: Sequence[str]) -> dict[str, Any]:
        """What an output's metadata records of it (with the layers it changed)."""
        return {"pattern": self.pattern, "target": self.target, "filler": self.filler_text(),
                "layers": list(layers)}


def parse_override(text: str) -> FillerOverride:
    """``PATTERN[.weight|.bias]=FILLER`` (or ``FILLER`` alone, for every layer)."""
    head, sep, body = text.partition("=")
    pattern = head.strip() if sep else "*"
    body = body if sep else text
    if not pattern:
        raise FillerError(f"filler override {text!r}: empty pattern before '=' "
                          f"(expected {SYNTAX}; '*' for every layer)")
    target: Target = "weight"
    for name in TARGETS:
        if pattern.endswith("." + name):
            pattern, target = pattern[: -len(name) - 1], name
            break
    if not pattern:
        raise FillerError(f"filler override {text!r}: no layer pattern before '.{target}'")
    body = body.strip()
    if not body:
        raise FillerError(f"filler override {text!r}: no filler after '=' "
                          f"(e.g. 'type: \"msra\"' or 'msra')")
    if _BARE_TYPE.fullmatch(body):
        body = f'type: "{body}"'
    try:
        param = parse_filler(body)
        spec = filler_spec(param.type)
    except FillerError as exc:
        raise FillerError(f"filler override {text!r}: {exc.message}") from None
    unread = [field.name for field, _ in param.ListFields()
              if field.name != "type" and field.name not in spec.fields_read]
    if unread:
        reads = ", ".join(spec.fields_read) or "no field"
        raise FillerError(
            f"filler override {text!r}: {param.type} does not read "
            f"{', '.join(repr(name) for name in unread)} (it reads {reads})")
    return FillerOverride(pattern, target, param, text)


def parse_overrides(overrides: Iterable[FillerOverride | str]) -> list[FillerOverride]:
    """Parsed overrides (strings are parsed, parsed ones kept), in order."""
    return [item if isinstance(item, FillerOverride) else parse_override(item)
            for item in overrides]


def filler_home(layer: NetLayer, target: Target) -> str | None:
    """The LayerParameter sub-field (``'convolution_param.weight_filler'``) that
    holds ``layer``'s weight or bias filler, None when it has none."""
    for spec in layer.blobs:
        if not spec.filler_home:
            continue
        is_bias = spec.role == "bias" or spec.filler_home.rsplit(".", 1)[-1] in _BIAS_FIELDS
        if is_bias == (target == "bias"):
            return spec.filler_home
        if target == "weight":
            return None  # the first learnable blob is the bias: no weight
    return None


def apply_overrides(model: NetModel, overrides: Sequence[FillerOverride], *,
                    inputs: Mapping[str, Sequence[int]] | None = None,
                    profile: Profile) -> tuple[NetModel, list[dict[str, Any]]]:
    """The net set up again from its prototxt with the overrides' fillers in
    place, and what to record of each override (its layers, in net order).

    ``model`` is the net as set up from the unedited prototxt; ``inputs``
    must be the shapes it was set up with."""
    if not overrides:
        return model, []
    chosen: dict[tuple[int, str], FillerOverride] = {}  # (layer index, home) -> last match
    matched: dict[int, list[str]] = {i: [] for i in range(len(overrides))}
    for layer in model.layers:
        for target in TARGETS:
            home = filler_home(layer, target)
            if home is None:
                continue
            for i, override in enumerate(overrides):
                if override.target == target and override.matches(layer.name):
                    chosen[(layer.index, home)] = override
                    matched[i].append(layer.name)
    for i, override in enumerate(overrides):
        if not matched[i]:
            raise _unmatched(model, override)
    edited = pb.NetParameter()
    edited.CopyFrom(model.param)
    for (index, home), override in chosen.items():
        owner: Any = edited.layer[index]
        *path, name = home.split(".")
        for part in path:
            owner = getattr(owner, part)
        getattr(owner, name).CopyFrom(override.filler)
    positions = [(layer.line or 0, layer.column or 0) for layer in model.layers]
    rebuilt = build_model(edited, phase=model.phase, inputs=inputs, path=model.path,
                          positions=positions, profile=profile)
    for (index, home), override in chosen.items():
        _check(rebuilt.layers[index], home, override, model.path, profile)
    return rebuilt, [override.record(matched[i]) for i, override in enumerate(overrides)]


def _check(layer: NetLayer, home: str, override: FillerOverride, path: str | None,
           profile: Profile) -> None:
    """Refuse, before anything is drawn, an override's filler that the blobs it
    now fills refuse (a bilinear kernel that is not square, ...)."""
    spec = filler_spec(override.filler.type)
    for blob in layer.blobs:
        if blob.filler_home != home:
            continue
        try:
            spec.check(override.filler, blob.shape, profile)
        except FillerError as exc:
            exc.message += f" (the filler of the override {override.text!r})"
            raise exc.located(path=path, line=layer.line, column=layer.column,
                              layer=layer.name) from None


def _unmatched(model: NetModel, override: FillerOverride) -> NetError:
    having = [layer.name for layer in model.layers
              if filler_home(layer, override.target) is not None]
    hint = ""
    if not _GLOB.search(override.pattern):
        close = nearest(override.pattern, having)
        hint = f"did you mean '{close}'? " if close else ""
    shown = ", ".join(having[:8]) + (f", ... ({len(having)} in all)" if len(having) > 8 else "")
    return NetError(
        f"filler override {override.text!r}: no layer of this net matches "
        f"'{override.pattern}' and has a {override.target} filler; {hint}"
        f"layers with one: {shown or 'none'}", path=model.path)
