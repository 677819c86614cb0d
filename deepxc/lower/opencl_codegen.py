"""Scheduled GPU PrimFuncs -> OpenCL C source, by TVM's OpenCL code generator, with the
NaN-keeping intrinsics restated for OpenCL C (`opencl_intrinsics`)."""

from __future__ import annotations

import tvm

from deepxc.lower.opencl_intrinsics import register_opencl_intrinsics


def opencl_source(module: tvm.IRModule, target: tvm.target.Target) -> str:
    """The OpenCL C source of `module`'s kernels."""
    register_opencl_intrinsics()
    with tvm.transform.PassContext(opt_level=3, config={"tirx.disable_assert": True}):
        runtime_module = tvm.tirx.build(module, target=target)
    return next(m for m in _walk(runtime_module) if m.kind == "opencl").inspect_source()


def _walk(module):
    yield module
    for imported in module.imports:
        yield from _walk(imported)
