"""Checks that what lowering compiles is what the IR describes.

The IR's tensor specs come from ONNX shape inference; the kernels come from Relax and TIR,
whose operators compute shapes by their own rules. Where the two disagree (a pooling
window rule, an emitter's slip), a kernel writes a tensor of another shape than the
buffer its reader expects, and the bundle runs on without an error. So both ends are
checked at build time: every Relax value an IR node emits against the node's output
specs, and every kernel call's buffers against the compiled kernel's parameters.
"""

from __future__ import annotations

from tvm import relax

from deepxc.artifacts import Buffer, Kernel, KernelCall
from deepxc.errors import LoweringMismatch
from deepxc.ir import Node, TensorSpec

REPORT = "this is a deepxc bug; please report it with the model"


def check_emitted(node: Node, tensor: str, expected: TensorSpec, value: relax.Expr) -> None:
    """The Relax value emitted for `tensor`, an output of `node`, has its IR shape and dtype."""
    compiled = static_spec(value.ty)
    if compiled != expected:
        raise LoweringMismatch(
            f"node '{node.name}' ({node.op}): output '{tensor}' is {_show(expected)} in the IR "
            f"but {_show(compiled)} as compiled; {REPORT}"
        )


def check_calls(
    calls: list[KernelCall], buffers: dict[str, Buffer], kernels: dict[str, Kernel]
) -> None:
    """Every call passes buffers of the shapes and dtypes its compiled kernel takes."""
    for call in calls:
        params = kernels[call.kernel].params
        passed = [buffers[name].spec for name in call.args]
        if passed == params:
            continue
        layers = ", ".join(f"'{layer}'" for layer in call.layers) or "no layer"
        if len(passed) != len(params):
            detail = f"{len(passed)} buffers for {len(params)} parameters"
        else:
            slot = next(i for i, (a, b) in enumerate(zip(passed, params)) if a != b)
            detail = (
                f"argument {slot} '{call.args[slot]}' is {_show(passed[slot])}, "
                f"the kernel takes {_show(params[slot])}"
            )
        raise LoweringMismatch(f"kernel {call.kernel} (for {layers}): {detail}; {REPORT}")


def static_spec(ty) -> TensorSpec | None:
    """The shape and dtype of a Relax tensor type, or None unless both are static."""
    shape = getattr(ty, "shape", None)
    if not isinstance(ty, relax.TensorType) or not isinstance(shape, relax.ShapeExpr):
        return None
    dims = [getattr(d, "value", None) for d in shape.values]
    if any(not isinstance(d, int) for d in dims):
        return None
    return TensorSpec(tuple(dims), str(ty.dtype))


def _show(spec: TensorSpec | None) -> str:
    if spec is None:
        return "not static"
    return f"{list(spec.shape)} {spec.dtype}"
