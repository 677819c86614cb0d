"""The ONNX checker at ingest: deepxc refuses what the reference checker refuses.

The full check (structure, operator signatures, types, strict shape inference) catches
models that only look valid, such as Gemm weights declared int32, which onnxruntime
refuses and deepxc would otherwise compile into nonsense.

It runs on the model after shape inference: the checker wants a shape on every graph
input and output, which the IR spec asks of exporters, but many tools (onnx.helper with
shape None, hand-made test models) leave output shapes to inference, as onnxruntime and
deepxc do. Inference fills them in; every other rule applies to the model as given.
"""

from __future__ import annotations

import onnx

from deepxc.errors import InvalidGraph, SizeLimitError, first_line


def check_onnx(model: onnx.ModelProto) -> None:
    """Raise InvalidGraph with the checker's reason if it refuses `model`."""
    size = model.ByteSize()
    if size > onnx.checker.MAXIMUM_PROTOBUF:
        # Such a model cannot be serialized for the checker (nor saved without external
        # data, which deepxc refuses): its weights are over deepxc's 2 GiB limit anyway.
        raise SizeLimitError(
            f"the model takes {size:,} bytes: over 2 GiB, the most a protobuf (and so the "
            "ONNX checker) and a bundle's weights can hold"
        )
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.shape_inference.InferenceError as exc:  # a line per node, naming it
        raise InvalidGraph(f"the ONNX checker refuses the model: {first_line(exc)}") from None
    except onnx.checker.ValidationError as exc:  # one reason over lines, then its node
        reason, _, context = str(exc).partition("==> Context:")
        where = f" ({' '.join(context.split())})" if context.strip() else ""
        raise InvalidGraph(
            f"the ONNX checker refuses the model: {' '.join(reason.split())}{where}"
        ) from None
    except (ValueError, RuntimeError) as exc:  # an unknown dtype, a name not in UTF-8
        raise InvalidGraph(
            f"the ONNX checker refuses the model: {type(exc).__name__}: {first_line(exc)}"
        ) from None
