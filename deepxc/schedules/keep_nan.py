"""Maximum and minimum that keep NaN, and the Relu/Clip compute built on them.

TVM's max and min are `a > b ? a : b` selects (and Relax's relu and clip are max and min
with constants): a NaN on one side is dropped, and LLVM may compile them to maxnum, which
drops it too. onnxruntime and the ONNX reference keep NaN through Relu and Clip, and a
window max should not forget one. LLVM's `maximum` and `minimum` (IEEE 754-2019: NaN
wins, -0 < +0) keep it: one NEON vmax/vmin (or AArch64 fmax/fmin) per vector on ARM; on
x86 a vmaxps/vminps and a NaN check, plus a signed-zero fix-up unless the target allows
fast-math-nsz. Integer types have no NaN and keep TVM's max and min.
"""

from __future__ import annotations

from tvm import te, tirx


def maximum(a: tirx.PrimExpr, b: tirx.PrimExpr) -> tirx.PrimExpr:
    return _intrinsic("llvm.maximum", a, b) if _is_float(b) else tirx.max(a, b)


def minimum(a: tirx.PrimExpr, b: tirx.PrimExpr) -> tirx.PrimExpr:
    return _intrinsic("llvm.minimum", a, b) if _is_float(b) else tirx.min(a, b)


def clip(x: te.Tensor, low: float | None, high: float | None) -> te.Tensor:
    """x raised to `low` and cut to `high` (None: no bound), NaN kept. The bounds are
    constants of the compute, so a kernel it is fused into takes no argument for them."""
    dtype = str(x.dtype)

    def bounded(*index):
        value = x(*index)
        if low is not None:
            value = maximum(value, tirx.const(low, dtype))
        if high is not None:
            value = minimum(value, tirx.const(high, dtype))
        return value

    return te.compute(x.shape, bounded, name="clip")


def _is_float(value: tirx.PrimExpr) -> bool:
    return "float" in str(value.ty)


def _intrinsic(name: str, a: tirx.PrimExpr, b: tirx.PrimExpr) -> tirx.PrimExpr:
    return tirx.call_llvm_pure_intrin(str(b.ty), name, a, b)
