"""Relax emitters: one function per IR op, collected in one registry.

An emitter receives the EmitContext and the node, and returns one Relax expression per
node output (None for an omitted optional output).
"""

from deepxc.ir.placement import PARTITION_OP
from deepxc.lower.relax_ops import conv, dense, elementwise, normalization, pool, shape
from deepxc.lower.relax_ops import reduce as reduction
from deepxc.lower.relax_ops.conv_transpose import conv_transpose
from deepxc.lower.relax_ops.partition import device_partition
from deepxc.lower.relax_ops.resize import resize
from deepxc.lower.relax_ops.slice import slice_

EMITTERS = {
    PARTITION_OP: device_partition,
    "Conv": conv.conv,
    "Gemm": dense.gemm,
    "MatMul": dense.matmul,
    "Add": elementwise.binary,
    "Sub": elementwise.binary,
    "Mul": elementwise.binary,
    "Div": elementwise.binary,
    "Sum": elementwise.sum_,
    "Relu": elementwise.relu,
    "Sigmoid": elementwise.unary,
    "Tanh": elementwise.unary,
    "HardSigmoid": elementwise.hard_sigmoid,
    "HardSwish": elementwise.hard_sigmoid,
    "LeakyRelu": elementwise.leaky_relu,
    "Clip": elementwise.clip,
    "Identity": elementwise.identity,
    "Dropout": elementwise.identity,
    "Cast": elementwise.cast,
    "Softmax": normalization.softmax,
    "LogSoftmax": normalization.softmax,
    "BatchNormalization": normalization.batch_norm,
    "LRN": normalization.lrn,
    "LayerNormalization": normalization.layer_norm,
    "MaxPool": pool.pool,
    "AveragePool": pool.pool,
    "GlobalAveragePool": pool.global_pool,
    "GlobalMaxPool": pool.global_pool,
    "ReduceMean": reduction.reduce,
    "ReduceSum": reduction.reduce,
    "ReduceMax": reduction.reduce,
    "Flatten": shape.reshape,
    "Reshape": shape.reshape,
    "Squeeze": shape.reshape,
    "Unsqueeze": shape.reshape,
    "Transpose": shape.transpose,
    "Concat": shape.concat,
    "Split": shape.split,
    "Pad": shape.pad,
    "Expand": shape.expand,
    "Slice": slice_,
    "Gather": shape.gather,
    "Resize": resize,
    "Upsample": resize,
    "ConvTranspose": conv_transpose,
}
