"""Build steps that need code: compile the schema and the C extension.

The schema in proto/ is compiled with grpcio-tools' protoc into
src/caffefill/_proto/ before the Python files are collected, so both a wheel
and an editable install carry the generated module.  The C extension is
built warning-free with -Wall -Wextra and -ffp-contract=off: fused
multiply-adds would change float32 results against Caffe's.  The SIMD
paths are chosen at run time (AVX2 where the CPU has it), so the wheel
runs on any x86-64 and builds with the portable C elsewhere.
"""

from __future__ import annotations

import os
import sys

import numpy
from setuptools import Extension, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_DIR = os.path.join(HERE, "proto")
PROTO_OUT = os.path.join(HERE, "src", "caffefill", "_proto")


def compile_schema() -> None:
    from grpc_tools import protoc

    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_DIR}",
        f"--python_out={PROTO_OUT}",
        f"--pyi_out={PROTO_OUT}",
        os.path.join(PROTO_DIR, "caffefill.proto"),
    ]
    if protoc.main(args) != 0:
        sys.exit("protoc failed on proto/caffefill.proto")


class BuildPyWithSchema(build_py):
    """Compile the schema before the package's Python files are collected."""

    def run(self) -> None:
        compile_schema()
        super().run()


core_dir = os.path.join("src", "caffefill", "_core")
core = Extension(
    "caffefill._core",
    sources=[
        os.path.join(core_dir, name)
        for name in ("mt19937.c", "boostdist.c", "fill.c", "crc32.c", "module.c")
    ],
    include_dirs=[numpy.get_include(), core_dir],
    extra_compile_args=[
        "-std=c99",
        "-O3",
        "-ffp-contract=off",
        "-fno-fast-math",
        # Only PyInit__core is exported: the C units' functions can then be
        # inlined into each other and are not called through the PLT.
        "-fvisibility=hidden",
        "-Wall",
        "-Wextra",
    ],
    libraries=["m"],
)

# Editable installs do not always run build_py; compile up front as well.
compile_schema()
setup(ext_modules=[core], cmdclass={"build_py": BuildPyWithSchema})
