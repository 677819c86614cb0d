"""Seeded broken models for the fuzz test: small valid seed models, each mutated by one
named family, at the protobuf level (onnx.ModelProto edits) or at the byte level.

Case `index` of seed `seed` is a pure function of the two: its family is
FAMILIES[index % len(FAMILIES)], its seed model is picked from the family's applicable
seeds by the variant number (index // len(FAMILIES)), and its random choices come from
numpy's generator seeded with (seed, index). Negative indexes are the unmutated seed
models themselves (family "control"), which must build and match onnxruntime.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

CASES_PER_FAMILY = 16
OPSET = 17


@dataclass(frozen=True)
class Case:
    index: int
    family: str
    seed_model: str
    data: bytes  # the serialized (possibly broken) model


def _tensor(name: str, shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def _const(rng: np.random.Generator, name: str, shape) -> onnx.TensorProto:
    values = rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))
    return numpy_helper.from_array(values.astype(np.float32), name)


def _model(name, nodes, inputs, outputs, initializers) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, name, inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def tiny_cnn() -> onnx.ModelProto:
    """x[1,3,8,8] -> Conv 3x3 -> Relu -> MaxPool 2x2 -> Flatten -> Gemm -> Softmax."""
    rng = np.random.default_rng(1)
    nodes = [
        helper.make_node(
            "Conv",
            ["x", "conv_w", "conv_b"],
            ["conv"],
            name="conv1",
            kernel_shape=[3, 3],
            pads=[1, 1, 1, 1],
            strides=[1, 1],
            dilations=[1, 1],
            group=1,
        ),
        helper.make_node("Relu", ["conv"], ["relu"], name="relu1"),
        helper.make_node(
            "MaxPool", ["relu"], ["pool"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]
        ),
        helper.make_node("Flatten", ["pool"], ["flat"], name="flatten1", axis=1),
        helper.make_node(
            "Gemm", ["flat", "fc_w", "fc_b"], ["logits"], name="fc1", transB=1, alpha=1.0
        ),
        helper.make_node("Softmax", ["logits"], ["y"], name="softmax1", axis=1),
    ]
    initializers = [
        _const(rng, "conv_w", [4, 3, 3, 3]),
        _const(rng, "conv_b", [4]),
        _const(rng, "fc_w", [10, 64]),
        _const(rng, "fc_b", [10]),
    ]
    return _model(
        "tiny_cnn", nodes, [_tensor("x", [1, 3, 8, 8])], [_tensor("y", [1, 10])], initializers
    )


def mlp() -> onnx.ModelProto:
    """x[1,16] -> MatMul -> Add -> Relu -> MatMul -> Add."""
    rng = np.random.default_rng(2)
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h1"], name="matmul1"),
        helper.make_node("Add", ["h1", "b1"], ["h1b"], name="add1"),
        helper.make_node("Relu", ["h1b"], ["h1r"], name="relu1"),
        helper.make_node("MatMul", ["h1r", "w2"], ["h2"], name="matmul2"),
        helper.make_node("Add", ["h2", "b2"], ["y"], name="add2"),
    ]
    initializers = [
        _const(rng, "w1", [16, 12]),
        _const(rng, "b1", [12]),
        _const(rng, "w2", [12, 5]),
        _const(rng, "b2", [5]),
    ]
    return _model("mlp", nodes, [_tensor("x", [1, 16])], [_tensor("y", [1, 5])], initializers)


def reshape_concat() -> onnx.ModelProto:
    """x[1,3,8,8] -> Reshape [1,3,64] -> Transpose -> Concat with a constant -> Sigmoid;
    a second output straight from an AveragePool of x."""
    rng = np.random.default_rng(3)
    nodes = [
        helper.make_node("Reshape", ["x", "target_shape"], ["flat"], name="reshape1"),
        helper.make_node("Transpose", ["flat"], ["cols"], name="transpose1", perm=[0, 2, 1]),
        helper.make_node("Concat", ["cols", "extra"], ["joined"], name="concat1", axis=2),
        helper.make_node("Sigmoid", ["joined"], ["y"], name="sigmoid1"),
        helper.make_node(
            "AveragePool",
            ["x"],
            ["z"],
            name="avgpool1",
            kernel_shape=[3, 3],
            strides=[2, 2],
            pads=[1, 1, 1, 1],
            count_include_pad=0,
        ),
    ]
    initializers = [
        numpy_helper.from_array(np.array([1, 3, 64], np.int64), "target_shape"),
        _const(rng, "extra", [1, 64, 2]),
    ]
    return _model(
        "reshape_concat",
        nodes,
        [_tensor("x", [1, 3, 8, 8])],
        [_tensor("y", [1, 64, 5]), _tensor("z", [1, 3, 4, 4])],
        initializers,
    )


def fully_conv() -> onnx.ModelProto:
    """x[1,3,8,8] -> Conv -> Relu -> MaxPool -> AveragePool -> GlobalAveragePool: any
    spatial size gives the same output shape, so a changed window or input size reaches
    deepxc instead of failing shape inference downstream."""
    rng = np.random.default_rng(4)
    nodes = [
        helper.make_node(
            "Conv", ["x", "w"], ["conv"], name="conv1", kernel_shape=[3, 3], pads=[1, 1, 1, 1]
        ),
        helper.make_node("Relu", ["conv"], ["relu"], name="relu1"),
        helper.make_node(
            "MaxPool", ["relu"], ["max"], name="maxpool1", kernel_shape=[2, 2], strides=[2, 2]
        ),
        helper.make_node(
            "AveragePool",
            ["max"],
            ["avg"],
            name="avgpool1",
            kernel_shape=[3, 3],
            pads=[1, 1, 1, 1],
            count_include_pad=1,
        ),
        helper.make_node("GlobalAveragePool", ["avg"], ["y"], name="gap1"),
    ]
    return _model(
        "fully_conv",
        nodes,
        [_tensor("x", [1, 3, 8, 8])],
        [_tensor("y", [1, 4, 1, 1])],
        [_const(rng, "w", [4, 3, 3, 3])],
    )


SEEDS: dict[str, Callable[[], onnx.ModelProto]] = {
    "tiny_cnn": tiny_cnn,
    "mlp": mlp,
    "reshape_concat": reshape_concat,
    "fully_conv": fully_conv,
}
ALL_SEEDS = tuple(SEEDS)
WITH_ATTRIBUTES = ("tiny_cnn", "reshape_concat", "fully_conv")
WITH_WINDOWS = ("fully_conv", "tiny_cnn", "reshape_concat")  # convolution or pooling

HUGE_INTS = [2**31 - 1, 2**31, 2**32 + 3, 2**40, 10**12, 2**62, 2**63 - 1]
NEGATIVE_INTS = [-1, -2, -3, -7, -64, -(2**31), -(2**63)]
ODD_DIMS = [0, -1, -3, 2**31, 10**12, 2**62, 1, 2, 7, 1000]
DTYPES = [
    TensorProto.UNDEFINED,
    TensorProto.INT64,
    TensorProto.INT32,
    TensorProto.INT8,
    TensorProto.UINT8,
    TensorProto.DOUBLE,
    TensorProto.FLOAT16,
    TensorProto.BFLOAT16,
    TensorProto.BOOL,
    TensorProto.STRING,
    TensorProto.COMPLEX64,
    999,
]
IR_VERSIONS = [0, -1, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 99, 2**40]
OPSET_VERSIONS = [0, -1, 1, 5, 6, 7, 11, 13, 22, 23, 99, 10000, 2**40]  # 13 + 3 edits
UNKNOWN_OPS = ["FooBar", "conv", "Relu6", "", "Hardmax", "Einsum", "LSTM", "NonZero", "Loop"]
UNKNOWN_DOMAINS = ["com.example", "ai.onnx.ml", "com.microsoft", "ai.onnx.preview.training"]


# --- helpers the mutations share -------------------------------------------------------


def _pick(rng: np.random.Generator, items):
    return items[int(rng.integers(len(items)))]


def _value_infos(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    return list(model.graph.input) + list(model.graph.output)


def _tensor_names(model: onnx.ModelProto) -> list[str]:
    names = [v.name for v in model.graph.input] + [i.name for i in model.graph.initializer]
    return names + [t for node in model.graph.node for t in node.output]


def _windowed_node(model: onnx.ModelProto, rng: np.random.Generator) -> onnx.NodeProto:
    windows = ("Conv", "MaxPool", "AveragePool")
    return _pick(rng, [n for n in model.graph.node if n.op_type in windows])


def _set_attribute(node: onnx.NodeProto, name: str, value, kind=None) -> None:
    for index, attr in enumerate(node.attribute):
        if attr.name == name:
            del node.attribute[index]
            break
    node.attribute.append(helper.make_attribute(name, value, attr_type=kind))


def _int_value(attr: onnx.AttributeProto, value: int):
    """`value` in the shape of `attr`: one int, or every one of its ints."""
    if attr.type == onnx.AttributeProto.INTS:
        return [value] * max(len(attr.ints), 1)
    return value


def _int_attribute_mutation(values: list[int]):
    """A mutation that sets a random attribute, or one of its ints, to one of `values`."""

    def mutate(model: onnx.ModelProto, rng: np.random.Generator, variant: int) -> None:
        node = _pick(rng, [n for n in model.graph.node if n.attribute])
        attr = _pick(rng, list(node.attribute))
        value = int(_pick(rng, values))
        if attr.type == onnx.AttributeProto.INTS and rng.random() < 0.5:
            ints = list(attr.ints)
            ints[int(rng.integers(len(ints)))] = value
            _set_attribute(node, attr.name, ints)
        elif attr.type == onnx.AttributeProto.FLOAT:
            _set_attribute(node, attr.name, float(value))
        else:
            _set_attribute(node, attr.name, _int_value(attr, value))

    return mutate


# --- protobuf-level mutations: each edits the model in place ---------------------------


def delete_node(model: onnx.ModelProto, rng: np.random.Generator, variant: int) -> None:
    del model.graph.node[int(rng.integers(len(model.graph.node)))]


def delete_initializer(model: onnx.ModelProto, rng: np.random.Generator, variant: int) -> None:
    del model.graph.initializer[int(rng.integers(len(model.graph.initializer)))]


def dangling_name(model: onnx.ModelProto, rng: np.random.Generator, variant: int) -> None:
    ghost = f"ghost_{int(rng.integers(1000))}"
    where = int(rng.integers(4))
    node = _pick(rng, model.graph.node)
    if where == 0 and node.input:
        node.input[int(rng.integers(len(node.input)))] = ghost
    elif where == 1:
        node.output[0] = ghost  # its readers now read nothing
    elif where == 2:
        _pick(rng, model.graph.output).name = ghost
    else:
        _pick(rng, model.graph.input).name = ghost


def bad_dim(model: onnx.ModelProto, rng: np.random.Generator, variant: int) -> None:
    value = _pick(rng, _value_infos(model))
    dims = value.type.tensor_type.shape.dim
    how = int(rng.integers(4))
    if how == 0:
        _pick(rng, dims).dim_value = int(_pick(rng, ODD_DIMS))
    elif how == 1:
        _pick(rng, dims).dim_param = _pick(rng, ["N", "batch", "?", ""])
    elif how == 2:
        dims.add().dim_value = int(_pick(rng, [1, 2, 3]))  # one dimension more
    else:
        del dims[int(rng.integers(len(dims)))]  # one dimension less


def initializer_shape(model: onnx.ModelProto, rng: np.random.Generator, variant: int) -> None:
    """An initializer whose shape no longer fits its node, or whose dims no longer fit
    its own data."""
    init = _pick(rng, model.graph.initializer)
    array = numpy_helper.to_array(init)
    how = int(rng.integers(4))
    if how == 0 and array.ndim:
        axis = int(rng.integers(array.ndim))
        size = max(array.shape[axis] + int(_pick(rng, [-1, 1, 5])), 1)
        shape = list(array.shape)
        shape[axis] = size
        grown = np.resize(array, shape).astype(array.dtype)
        init.CopyFrom(numpy_helper.from_array(grown, init.name))
    elif how == 1:
        init.CopyFrom(numpy_helper.from_array(array.reshape(-1), init.name))
    elif how == 2 and init.dims:
        init.dims[int(rng.integers(len(init.dims)))] = int(_pick(rng, ODD_DIMS))
    else:
        init.CopyFrom(numpy_helper.from_array(array.reshape(1, *array.shape), init.name))


def unknown_op(model: onnx.ModelProto, rng: np.random.Generator, variant: int) -> None:
    node = _pick(rng, model.graph.node)
    if rng.random() < 0.6:
        node.op_type = _pick(rng, UNKNOWN_OPS)
    else:
        node.domain = _pick(rng, UNKNOWN_DOMAINS)
        if rng.random() < 0.5:
            model.opset_import.append(helper.make_opsetid(node.domain, 1))


def wrong_dtype(model: onnx.ModelProto, rng: np.random.Generator, variant: int) -> None:
    dtype = int(_pick(rng, DTYPES))
    if rng.random() < 0.5:
        _pick(rng, _value_infos(model)).type.tensor_type.elem_type = dtype
        return
    init = _pick(rng, model.graph.initializer)
    if rng.random() < 0.5:
        init.data_type = dtype  # raw bytes stay: sizes no longer agree for most types
        return
    array = numpy_helper.to_array(init)
    np_type = helper.tensor_dtype_to_np_dtype(dtype) if dtype in (1, 6, 7, 10, 11) else None
    converted = array.astype(np_type if np_type is not None else np.float64)
    init.CopyFrom(numpy_helper.from_array(converted, init.name))


def cycle(model: onnx.ModelProto, rng: np.random.Generator, variant: int) -> None:
    """A node reads the output of itself or of one of the nodes downstream of it."""
    nodes = model.graph.node
    first = int(rng.integers(len(nodes)))
    downstream = {nodes[first].output[0]}
    for node in nodes[first + 1 :]:
        if downstream & set(node.input):
            downstream.update(node.output)
    target = nodes[first]
    slot = int(rng.integers(len(target.input)))
    target.input[slot] = _pick(rng, sorted(downstream))


def node_order(model: onnx.ModelProto, rng: np.random.Generator, variant: int) -> None:
    """Valid nodes out of topological order."""
    nodes = list(model.graph.node)
    order = list(rng.permutation(len(nodes)))
    if order == sorted(order):
        order.reverse()
    del model.graph.node[:]
    model.graph.node.extend(nodes[i] for i in order)


def duplicate_output(model: onnx.ModelProto, rng: np.random.Generator, variant: int) -> None:
    graph = model.graph
    how = int(rng.integers(5))
    if how == 0:  # two nodes write one tensor
        first, second = rng.choice(len(graph.node), 2, replace=False)
        graph.node[int(second)].output[0] = graph.node[int(first)].output[0]
    elif how == 1:  # a graph output listed twice
        graph.output.append(_pick(rng, graph.output))
    elif how == 2:  # a node writes a graph input
        _pick(rng, graph.node).output[0] = _pick(rng, graph.input).name
    elif how == 3:  # a node writes an initializer
        _pick(rng, graph.node).output[0] = _pick(rng, graph.initializer).name
    else:  # an initializer twice
        graph.initializer.append(_pick(rng, graph.initializer))


def attribute_kind(model: onnx.ModelProto, rng: np.random.Generator, variant: int) -> None:
    """Attributes of the wrong kind, missing required ones, unknown ones."""
    nodes = [n for n in model.graph.node if n.attribute]
    node = _pick(rng, nodes)
    attr = _pick(rng, list(node.attribute))
    how = int(rng.integers(4))
    if how == 0:
        _set_attribute(node, attr.name, _pick(rng, ["same", "3", b"\xff\xfe"]))
    elif how == 1:
        value = _pick(rng, [1.5, [2.0, 2.0], [], [1, 2, 3, 4, 5]])
        _set_attribute(node, attr.name, value, onnx.AttributeProto.INTS if value == [] else None)
    elif how == 2:
        node.attribute.remove(attr)
    else:
        _set_attribute(_pick(rng, model.graph.node), _pick(rng, ["axis", "bogus", "pads"]), 2)


def kernel_too_big(model: onnx.ModelProto, rng: np.random.Generator, variant: int) -> None:
    """A convolution or pooling window larger than its (padded) input; sometimes with
    pads that make it fit again."""
    node = _windowed_node(model, rng)
    size = int(_pick(rng, [9, 10, 11, 16, 17, 64]))
    window = [size, size] if rng.random() < 0.6 else [size, 1]
    _set_attribute(node, "kernel_shape", window)
    if rng.random() < 0.4:
        pad = (window[0] - 1) // 2
        _set_attribute(node, "pads", [pad, 0, pad, 0] if window[1] == 1 else [pad] * 4)
    if node.op_type == "Conv":
        weight = next(i for i in model.graph.initializer if i.name == node.input[1])
        out_channels, in_channels = weight.dims[0], weight.dims[1]
        values = rng.standard_normal([out_channels, in_channels, *window]).astype(np.float32)
        weight.CopyFrom(numpy_helper.from_array(values * 0.1, weight.name))


def arity(model: onnx.ModelProto, rng: np.random.Generator, variant: int) -> None:
    """Too many or too few inputs or outputs, on a node or on the graph."""
    graph = model.graph
    node = _pick(rng, graph.node)
    how = int(rng.integers(5))
    if how == 0:
        node.input.append(_pick(rng, _tensor_names(model)))
    elif how == 1 and node.input:
        del node.input[-1]
    elif how == 2:
        node.output.append(f"{node.output[0]}_extra")
    elif how == 3:
        del graph.output[:]
    else:
        del node.input[:]


def ir_version(model: onnx.ModelProto, rng: np.random.Generator, variant: int) -> None:
    model.ir_version = IR_VERSIONS[variant % len(IR_VERSIONS)]


def opset_version(model: onnx.ModelProto, rng: np.random.Generator, variant: int) -> None:
    """Each variant one edit of the opset imports: an odd version of the default domain,
    none at all, two of it, or only a foreign domain."""
    edit = variant % (len(OPSET_VERSIONS) + 3)
    if edit < len(OPSET_VERSIONS):
        model.opset_import[0].version = OPSET_VERSIONS[edit]
    elif edit == len(OPSET_VERSIONS):
        del model.opset_import[:]
    elif edit == len(OPSET_VERSIONS) + 1:
        model.opset_import.append(helper.make_opsetid("", int(_pick(rng, OPSET_VERSIONS))))
    else:
        model.opset_import[0].domain = _pick(rng, UNKNOWN_DOMAINS)


def special_values(model: onnx.ModelProto, rng: np.random.Generator, variant: int) -> None:
    """NaN, infinities, huge or tiny weights: a valid model that must still match."""
    floats = [i for i in model.graph.initializer if i.data_type == TensorProto.FLOAT]
    init = _pick(rng, floats)
    array = numpy_helper.to_array(init).copy()
    value = np.float32(_pick(rng, [np.nan, np.inf, -np.inf, 3e38, -3e38, 1e-45, 0.0]))
    flat = array.reshape(-1)
    if rng.random() < 0.5:
        flat[int(rng.integers(flat.size))] = value
    else:
        flat[:] = value
    init.CopyFrom(numpy_helper.from_array(array, init.name))


# --- byte-level mutations: each maps the serialized model to new bytes -----------------


def byte_flip(data: bytes, rng: np.random.Generator, variant: int) -> bytes:
    mutated = bytearray(data)
    for _ in range(int(rng.integers(1, 9))):
        mutated[int(rng.integers(len(mutated)))] ^= int(rng.integers(1, 256))
    return bytes(mutated)


def byte_splice(data: bytes, rng: np.random.Generator, variant: int) -> bytes:
    """Insert random bytes, delete a range, or repeat a range."""
    start = int(rng.integers(len(data)))
    length = int(rng.integers(1, 33))
    how = int(rng.integers(3))
    if how == 0:
        noise = rng.integers(0, 256, length, dtype=np.uint8).tobytes()
        return data[:start] + noise + data[start:]
    if how == 1:
        return data[:start] + data[start + length :]
    return data[: start + length] + data[start : start + length] + data[start + length :]


def truncate(data: bytes, rng: np.random.Generator, variant: int) -> bytes:
    return data[: int(rng.integers(0, len(data)))]


# A mutation gets the case's random generator and its variant (its number within the
# family), which the families with a list of values to cover step through.
ProtoMutation = Callable[[onnx.ModelProto, np.random.Generator, int], None]
ByteMutation = Callable[[bytes, np.random.Generator, int], bytes]


@dataclass(frozen=True)
class Family:
    name: str
    mutate: ProtoMutation | ByteMutation
    on_bytes: bool = False
    seeds: tuple[str, ...] = ALL_SEEDS


FAMILIES: list[Family] = [
    Family("byte-flip", byte_flip, on_bytes=True),
    Family("byte-splice", byte_splice, on_bytes=True),
    Family("truncate", truncate, on_bytes=True),
    Family("delete-node", delete_node),
    Family("delete-initializer", delete_initializer),
    Family("dangling-name", dangling_name),
    Family("bad-dim", bad_dim),
    Family("initializer-shape", initializer_shape),
    Family("unknown-op", unknown_op),
    Family("wrong-dtype", wrong_dtype),
    Family("cycle", cycle),
    Family("node-order", node_order),
    Family("duplicate-output", duplicate_output),
    Family("huge-attribute", _int_attribute_mutation(HUGE_INTS), seeds=WITH_ATTRIBUTES),
    Family("negative-attribute", _int_attribute_mutation(NEGATIVE_INTS), seeds=WITH_ATTRIBUTES),
    Family("attribute-kind", attribute_kind, seeds=WITH_ATTRIBUTES),
    Family("kernel-too-big", kernel_too_big, seeds=WITH_WINDOWS),
    Family("arity", arity),
    Family("ir-version", ir_version),
    Family("opset-version", opset_version),
    Family("special-values", special_values),
]
CASE_COUNT = CASES_PER_FAMILY * len(FAMILIES)
CONTROL_INDEXES = [-1 - k for k in range(len(SEEDS))]


def family_of(index: int) -> Family | None:
    """The family of case `index`; None for the controls."""
    return None if index < 0 else FAMILIES[index % len(FAMILIES)]


def seed_bytes(name: str) -> bytes:
    return SEEDS[name]().SerializeToString()


def make_case(seed: int, index: int) -> Case:
    """Case `index` of `seed`: always the same bytes, and never the seed model's own
    (unless it is a control)."""
    if index < 0:
        name = ALL_SEEDS[-1 - index]
        return Case(index, "control", name, seed_bytes(name))
    family = family_of(index)
    variant = index // len(FAMILIES)
    name = family.seeds[variant % len(family.seeds)]
    original = seed_bytes(name)
    rng = np.random.default_rng([seed, index])
    for _ in range(100):
        data = _mutated(family, name, original, rng, variant)
        if data != original:
            return Case(index, family.name, name, data)
    raise AssertionError(f"case {index} ({family.name}): no mutation changed the model")


def _mutated(
    family: Family, name: str, original: bytes, rng: np.random.Generator, variant: int
) -> bytes:
    if family.on_bytes:
        return family.mutate(original, rng, variant)
    model = SEEDS[name]()
    family.mutate(model, rng, variant)
    return model.SerializeToString()
