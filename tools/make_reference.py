#!/usr/bin/env python3
"""Write golden files from a Caffe of your own, in caffefill's reference format.

Where pycaffe is importable, builds ``caffe.Net(prototxt, phase)`` after
``caffe.set_random_seed(seed)`` in a child process (a failed CHECK aborts the
whole process, so the parent records it as an ``error`` case) and appends a
record to ``OUT/nets.jsonl`` - the layers that own blobs with each blob's
shape, count, SHA-256 of its float32 bytes, first/last 8 values and sum -
plus ``OUT/<id>.caffemodel`` (Caffe's own serialisation) for small nets.
``caffefill diff`` and the test suite read these files.

    python3 tools/make_reference.py NET.prototxt --phase TEST --seed 1701 -o ref/ \
        [--caffe-label 1.0 --boost-label 1.58]

Without pycaffe it says so and exits with status 2.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

CAFFEMODEL_LIMIT = 262_144  # values; larger nets get only hashes

CHILD = r"""
import hashlib, json, sys
import numpy as np
import caffe
prototxt, phase, seed, model_out, limit = sys.argv[1:6]
caffe.set_mode_cpu()
caffe.set_random_seed(int(seed))
net = caffe.Net(prototxt, caffe.TRAIN if phase == "TRAIN" else caffe.TEST)
layers, total = [], 0
for name, blobs in net.params.items():
    entry = {"name": name, "type": net.layers[list(net._layer_names).index(name)].type,
             "blobs": []}
    for blob in blobs:
        data = np.ascontiguousarray(blob.data, dtype="<f4")
        flat = data.ravel()
        total += flat.size
        entry["blobs"].append({
            "shape": list(data.shape), "count": int(flat.size),
            "sha256": hashlib.sha256(data.tobytes()).hexdigest(),
            "head": [float(v) for v in flat[:8]], "tail": [float(v) for v in flat[-8:]],
            "sum": float(flat.astype(np.float64).sum())})
    layers.append(entry)
if total <= int(limit):
    net.save(model_out)
print(json.dumps({"params": total, "layers": layers}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prototxt")
    parser.add_argument("--phase", default="TEST", type=str.upper, choices=["TRAIN", "TEST"])
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("-o", "--output", required=True, help="folder for nets.jsonl")
    parser.add_argument("--caffe-label", help="record 'caffe' (e.g. 1.0, master)")
    parser.add_argument("--boost-label", help="record 'boost' (e.g. 1.58)")
    args = parser.parse_args()

    probe = subprocess.run([sys.executable, "-c", "import caffe"], capture_output=True)
    if probe.returncode != 0:
        print("make_reference: pycaffe is not importable here (import caffe failed); build "
              "Caffe with its Python bindings and put them on PYTHONPATH", file=sys.stderr)
        return 2

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    prototxt = Path(args.prototxt)
    case_id = f"{prototxt.stem}.{args.phase}.{args.seed}"
    model_path = out / f"{case_id}.caffemodel"
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(prototxt), args.phase, str(args.seed),
         str(model_path), str(CAFFEMODEL_LIMIT)], capture_output=True, text=True)
    record: dict[str, object] = {"id": case_id, "prototxt": prototxt.name, "phase": args.phase,
                                 "seed": args.seed}
    if args.caffe_label:
        record["caffe"] = args.caffe_label
    if args.boost_label:
        record["boost"] = args.boost_label
    if child.returncode == 0:
        record["expect"] = "ok"
        record.update(json.loads(child.stdout.strip().splitlines()[-1]))
    else:
        match = re.search(r"(Check failed: .*)", child.stderr)
        record["expect"] = "error"
        record["error"] = match.group(1).strip() if match else child.stderr.strip()[-500:]
    record["prototxt_sha256"] = hashlib.sha256(prototxt.read_bytes()).hexdigest()
    with open(out / "nets.jsonl", "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")
    print(f"{case_id}: {record['expect']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
