"""LLVM intrinsics in deepxc's computes, restated for OpenCL C.

deepxc's Relu, Clip and max pools take LLVM's NaN-keeping `llvm.maximum` and
`llvm.minimum` (`deepxc.schedules.keep_nan`). OpenCL C has no such function (its `fmax`
drops a NaN), and TVM's OpenCL code generator cannot print an LLVM intrinsic: for the
OpenCL target each is lowered to a select that returns a NaN operand and otherwise the
plain max or min.
"""

from __future__ import annotations

import tvm
from tvm import tirx
from tvm.target import codegen

_OP = "tirx.call_llvm_pure_intrin"
_SELECTS = {"llvm.maximum": tirx.max, "llvm.minimum": tirx.min}


def register_opencl_intrinsics() -> None:
    """Teach TVM's intrinsic lowering for OpenCL the intrinsics above (once a process)."""
    if tvm.ir.Op.get(_OP).get_attr("opencl.FLowerIntrinsic") is not None:
        return
    tirx.register_intrin_lowering(_OP, "opencl", f=_lower_llvm_intrinsic, level=99)


def _lower_llvm_intrinsic(call: tirx.Expr) -> tirx.Expr:
    intrinsic, a, b = call.args
    for name, plain in _SELECTS.items():
        if int(intrinsic) == codegen.llvm_lookup_intrinsic_id(name):
            return tirx.Select(tirx.isnan(a), a, tirx.Select(tirx.isnan(b), b, plain(a, b)))
    return call
