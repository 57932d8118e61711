"""The names a Caffe net's layers and blobs take in PyTorch (no torch needed).

:class:`caffefill.torch.CaffeNet` has one submodule per Caffe layer and one
tensor per learnable blob; ``caffefill init -o weights.safetensors`` writes
the same names without importing torch, so ``load_state_dict(strict=True)``
takes the file.  The rule:

* a submodule is named after its layer; a ``.`` (PyTorch's path separator)
  becomes ``_`` and an empty name becomes ``layer``; layers that own blobs
  are named first, so they keep their names, and a name already taken gets
  ``_2``, ``_3``, ... (the first free one);
* a blob is ``<submodule>.<role>`` (``weight``, ``bias``, ``scale``, ``slope``,
  ``mean``, ``variance``, ``moving_average_factor``, ``W_xc``, ...), or
  ``<submodule>.blob<i>`` when the layer has no role for it or two blobs share
  one.
"""

from __future__ import annotations

from ..net.model import NetLayer, NetModel


def module_names(model: NetModel) -> list[str]:
    """One distinct submodule name per layer of ``model``, in layer order."""
    names: list[str | None] = [None] * len(model.layers)
    used: set[str] = set()
    order = [lay for lay in model.layers if lay.blobs] + \
        [lay for lay in model.layers if not lay.blobs]
    for layer in order:
        base = layer.name.replace(".", "_") or "layer"
        name, k = base, 1
        while name in used:
            k += 1
            name = f"{base}_{k}"
        used.add(name)
        names[layer.index] = name
    return [n for n in names if n is not None]


def blob_names(layer: NetLayer) -> list[str]:
    """The attribute name of each of ``layer``'s blobs, in Caffe's blob order."""
    roles = [spec.role.replace(".", "_") for spec in layer.blobs]
    return [role if role and role.isidentifier() and roles.count(role) == 1 else f"blob{i}"
            for i, role in enumerate(roles)]


def state_keys(model: NetModel) -> list[tuple[NetLayer, int, str]]:
    """Every learnable blob as (layer, blob index, state_dict key), in net order
    (a shared blob appears under each layer that uses it, as in ``state_dict``)."""
    keys = []
    for layer, module in zip(model.layers, module_names(model), strict=False):
        for index, name in enumerate(blob_names(layer)):
            keys.append((layer, index, f"{module}.{name}"))
    return keys
