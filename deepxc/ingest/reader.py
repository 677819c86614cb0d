"""ONNX file -> IR: load and check the file, pin shapes, infer them, import each node."""

from __future__ import annotations

import os

import numpy as np
import onnx
from onnx import numpy_helper, shape_inference

from deepxc.errors import (
    DeepxcError,
    InputFileError,
    InvalidGraph,
    ShapeError,
    UnsupportedOp,
    UnsupportedType,
    first_line,
)
from deepxc.ingest.importers import IMPORTERS
from deepxc.ingest.importers.pool_sizes import infer_shapes
from deepxc.ingest.onnx_checker import check_onnx
from deepxc.ingest.passes.fold_constants import fold, foldable
from deepxc.ingest.unsupported_ops import check_ops
from deepxc.ir import Graph, Node, TensorSpec


def load_onnx(path: str) -> onnx.ModelProto:
    """Read an ONNX file, with a clear error for a missing, foreign or corrupt file, or
    one whose nodes use ops deepxc does not support (all of them named)."""
    if not os.path.exists(path):
        raise InputFileError(f"{path}: no such file")
    if os.path.isdir(path):
        raise InputFileError(f"{path}: is a directory, expected an .onnx file")
    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as exc:  # protobuf raises several unrelated types
        raise InputFileError(f"{path}: not a readable ONNX model ({first_line(exc)})") from None
    if not model.graph.node and not model.graph.output:
        raise InputFileError(f"{path}: not an ONNX model (no graph found)")
    if model.ir_version <= 0:
        raise InputFileError(f"{path}: not an ONNX model (missing ir_version)")
    check_ops(model, path)  # here, where the message can name the file
    return model


def parse_input_shapes(items: list[str] | None) -> dict[str, tuple[int, ...]]:
    """Parse `name=1,3,224,224` strings given on the command line."""
    shapes: dict[str, tuple[int, ...]] = {}
    for item in items or []:
        name, sep, dims = item.partition("=")
        try:
            shape = tuple(int(d) for d in dims.split(","))
        except ValueError:
            shape = ()
        if not sep or not name or not shape or any(d <= 0 for d in shape):
            raise ShapeError(f"--input-shape {item!r}: expected NAME=D1,D2,... with D > 0")
        shapes[name] = shape
    return shapes


def import_model(
    model: onnx.ModelProto, input_shapes: dict[str, tuple[int, ...]] | None = None
) -> Graph:
    """Build the IR of an in-memory ONNX model."""
    input_shapes = dict(input_shapes or {})
    check_ops(model, f"model '{model.graph.name}'" if model.graph.name else "the model")
    _check_opset(model)
    _check_references(model.graph)
    _check_boundary_types(model.graph)
    model = _pin_input_shapes(model, input_shapes)
    try:
        checked = shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
        check_onnx(checked)  # the checker holds the model to ONNX's own inference
        model = infer_shapes(model, checked)  # pools sized as onnxruntime sizes them
    except DeepxcError:
        raise
    except Exception as exc:
        raise InvalidGraph(f"ONNX shape inference failed: {first_line(exc)}") from None
    onnx_graph = model.graph
    graph = Graph(onnx_graph.name or "model")
    opset = _default_opset(model)

    for init in onnx_graph.initializer:
        graph.add_constant(init.name, _to_array(init))
    for value in list(onnx_graph.value_info) + list(onnx_graph.output):
        spec = _spec(value)
        if spec is not None:
            graph.tensors.setdefault(value.name, spec)
    for value in onnx_graph.input:
        if value.name in graph.constants:
            continue  # old exporters list initializers as inputs too
        spec = _spec(value)
        if spec is None:
            raise ShapeError(f"input '{value.name}' has no static shape: give --input-shape")
        _check_float_io(value.name, spec, "input")
        graph.tensors[value.name] = spec
        graph.inputs.append(value.name)

    dropped: dict[str, Node] = {}  # optional outputs an importer does not compute
    for index, proto in enumerate(onnx_graph.node):
        _check_names(proto, index)
        node = Node(
            name=proto.name or f"{proto.op_type}_{index}",
            op=proto.op_type,
            inputs=list(proto.input),
            outputs=list(proto.output),
            attrs={a.name: _attribute(a) for a in proto.attribute},
        )
        importer = IMPORTERS.get(node.op)  # check_ops refused the others unless they fold
        for tensor in node.inputs:
            if tensor in dropped:
                _refuse_dropped(dropped[tensor], tensor, f"node '{node.name}'")
            if tensor and tensor not in graph.tensors:
                raise ShapeError(
                    f"node '{node.name}' ({node.op}): the shape of its input '{tensor}' "
                    "could not be inferred statically"
                )
        node.attrs["_opset"] = opset
        _infer_output_specs(proto, graph, model.opset_import)
        imported = importer(node, graph) if importer is not None else node
        if imported is None:
            continue
        if foldable(graph, imported):  # shape arithmetic: later shapes may follow from it
            fold(graph, imported)
        else:
            graph.add_node(imported)
            dropped.update((t, imported) for t in proto.output if t and t not in imported.outputs)

    graph.outputs = [value.name for value in onnx_graph.output]
    for name in graph.outputs:
        if name in dropped:
            _refuse_dropped(dropped[name], name, "the model")
        if name in graph.tensors:
            _check_float_io(name, graph.tensors[name], "output")
    return graph


def _refuse_dropped(node: Node, tensor: str, reader: str) -> None:
    raise UnsupportedOp(
        node.name,
        node.op,
        f"its optional output '{tensor}' is read by {reader}, and deepxc does not compute it",
    )


def _infer_output_specs(proto: onnx.NodeProto, graph: Graph, opsets) -> None:
    """Output specs that ONNX's inference left unknown, inferred again from this node's
    inputs, the folded values among them included (its data propagation stops at ops
    such as Div, Floor or Range, so a Reshape or Resize after them has no static shape)."""
    if all(not t or t in graph.tensors for t in proto.output):
        return
    inputs = [t for t in dict.fromkeys(proto.input) if t]
    constants = [t for t in inputs if graph.is_constant(t)]
    model = onnx.helper.make_model(
        onnx.helper.make_graph(
            [proto],
            "node",
            [_value_info(t, graph.tensors[t]) for t in inputs if t not in constants],
            [onnx.helper.make_tensor_value_info(t, 0, None) for t in proto.output if t],
            [numpy_helper.from_array(graph.constants[t], t) for t in constants],
        ),
        opset_imports=list(opsets),
    )
    try:
        inferred = shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    except Exception:  # ONNX raises several types; a reader of the output says it is unknown
        return
    for value in inferred.graph.output:
        spec = _spec(value)
        if spec is not None:
            graph.tensors.setdefault(value.name, spec)


def _value_info(name: str, spec: TensorSpec) -> onnx.ValueInfoProto:
    elem = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(spec.dtype))
    return onnx.helper.make_tensor_value_info(name, elem, list(spec.shape))


def _check_opset(model: onnx.ModelProto) -> None:
    """An opset newer than the onnx package knows has no defined semantics yet."""
    newest = onnx.defs.onnx_opset_version()
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx") and not 1 <= entry.version <= newest:
            raise InvalidGraph(
                f"the model imports opset {entry.version} of the default domain: the "
                f"released opsets are 1 to {newest}"
            )


def _check_boundary_types(onnx_graph: onnx.GraphProto) -> None:
    """Graph inputs and outputs need an element type (0 means none was given)."""
    for kind, values in (("input", onnx_graph.input), ("output", onnx_graph.output)):
        for value in values:
            if value.type.HasField("tensor_type") and value.type.tensor_type.elem_type == 0:
                raise InvalidGraph(f"graph {kind} '{value.name}' has no element type")


def _check_names(proto: onnx.NodeProto, index: int) -> None:
    """Names must be UTF-8 (protobuf hands back bytes for those that are not)."""
    names = [proto.name, proto.op_type, *proto.input, *proto.output]
    names += [a.name for a in proto.attribute]
    if not all(isinstance(name, str) for name in names):
        raise InvalidGraph(f"node {index} ({proto.op_type!r}): a name is not valid UTF-8")


def _check_references(onnx_graph: onnx.GraphProto) -> None:
    """Every tensor a node reads must come from somewhere; every tensor has one producer."""
    known = {v.name for v in onnx_graph.input} | {i.name for i in onnx_graph.initializer}
    for index, node in enumerate(onnx_graph.node):
        for tensor in node.output:
            if tensor and tensor in known:
                raise InvalidGraph(
                    f"node '{node.name or index}' ({node.op_type}) writes '{tensor}', "
                    "which is already an input, initializer or another node's output"
                )
            known.add(tensor)
    for index, node in enumerate(onnx_graph.node):
        for tensor in node.input:
            if tensor and tensor not in known:
                raise InvalidGraph(
                    f"node '{node.name or index}' ({node.op_type}) reads '{tensor}', which is "
                    "no input, no initializer and no node's output (missing initializer?)"
                )
    for value in onnx_graph.output:
        if value.name not in known:
            raise InvalidGraph(f"graph output '{value.name}' is never produced")


def _pin_input_shapes(
    model: onnx.ModelProto, input_shapes: dict[str, tuple[int, ...]]
) -> onnx.ModelProto:
    model_copy = onnx.ModelProto()
    model_copy.CopyFrom(model)
    initializers = {init.name for init in model_copy.graph.initializer}
    known = {value.name for value in model_copy.graph.input}
    for name in input_shapes:
        if name not in known or name in initializers:
            raise ShapeError(f"--input-shape names '{name}', which is not a model input")
    if model_copy.ir_version < 4:  # initializers must be declared as inputs there
        declared = {value.name for value in model_copy.graph.input}
        for init in model_copy.graph.initializer:
            if init.name not in declared:
                model_copy.graph.input.append(
                    onnx.helper.make_tensor_value_info(init.name, init.data_type, init.dims)
                )
    for value in model_copy.graph.input:
        if value.name in initializers:
            continue
        tensor_type = value.type.tensor_type
        dims = tensor_type.shape.dim
        if value.name in input_shapes:
            shape = input_shapes[value.name]
            if not tensor_type.HasField("shape"):  # rank unknown: the one given is taken
                dims.extend(onnx.TensorShapeProto.Dimension() for _ in shape)
            if len(shape) != len(dims):
                raise ShapeError(
                    f"--input-shape {value.name}: model input has rank {len(dims)}, "
                    f"got {len(shape)} dimensions"
                )
            for dim, size in zip(dims, shape):
                if dim.HasField("dim_value") and dim.dim_value != size:
                    raise ShapeError(
                        f"--input-shape {value.name}: dimension {dim.dim_value} is fixed "
                        f"by the model, got {size}"
                    )
                dim.Clear()
                dim.dim_value = size
            continue
        if not tensor_type.HasField("shape"):
            raise ShapeError(
                f"input '{value.name}' has no shape: give --input-shape {value.name}=D1,D2,..."
            )
        for axis, dim in enumerate(dims):
            if not dim.HasField("dim_value"):
                label = dim.dim_param or "?"
                raise ShapeError(
                    f"input '{value.name}' has a symbolic dimension '{label}' (axis {axis}): "
                    f"give --input-shape {value.name}=D1,D2,..."
                )
            if dim.dim_value <= 0:
                raise InvalidGraph(
                    f"input '{value.name}' has dimension {dim.dim_value} on axis {axis}: "
                    "dimensions must be > 0"
                )
    return model_copy


def _spec(value: onnx.ValueInfoProto) -> TensorSpec | None:
    tensor_type = value.type.tensor_type
    if not tensor_type.HasField("shape") or tensor_type.elem_type == 0:
        return None
    dims = []
    for dim in tensor_type.shape.dim:
        if not dim.HasField("dim_value"):
            return None
        dims.append(int(dim.dim_value))
    dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor_type.elem_type)
    return TensorSpec(tuple(dims), np.dtype(dtype).name)


def _check_float_io(name: str, spec: TensorSpec, kind: str) -> None:
    if spec.dtype != "float32":
        hint = " (a shape or index operand must be an initializer)" if kind == "input" else ""
        raise UnsupportedType(
            f"model {kind} '{name}' is {spec.dtype}: bundle inputs and outputs must be "
            f"float32{hint}"
        )


def _to_array(init: onnx.TensorProto) -> np.ndarray:
    if init.data_location == onnx.TensorProto.EXTERNAL:
        raise InputFileError(
            f"initializer '{init.name}' uses external data, which is not "
            "supported: save the model with weights inside the file"
        )
    try:
        return np.array(numpy_helper.to_array(init))
    except Exception as exc:
        raise InvalidGraph(f"initializer '{init.name}' is corrupt: {first_line(exc)}") from None


def _attribute(attr: onnx.AttributeProto):
    value = onnx.helper.get_attribute_value(attr)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, onnx.TensorProto):
        return _to_array(value)
    if isinstance(value, list) and value and isinstance(value[0], bytes):
        return [v.decode("utf-8", "replace") for v in value]
    return value


def _default_opset(model: onnx.ModelProto) -> int:
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    return 1
