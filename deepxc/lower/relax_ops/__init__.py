"""Relax emitters: one function per IR op, collected in one registry.

An emitter receives the EmitContext and the node, and returns one Relax expression per
node output (None for an omitted optional output).
"""

from deepxc.lower.relax_ops import conv, dense, elementwise, normalization, pool, shape
from deepxc.lower.relax_ops.conv_transpose import conv_transpose
from deepxc.lower.relax_ops.resize import resize

EMITTERS = {
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
    "LeakyRelu": elementwise.leaky_relu,
    "Clip": elementwise.clip,
    "Identity": elementwise.identity,
    "Dropout": elementwise.identity,
    "Softmax": normalization.softmax,
    "LogSoftmax": normalization.softmax,
    "BatchNormalization": normalization.batch_norm,
    "LRN": normalization.lrn,
    "MaxPool": pool.pool,
    "AveragePool": pool.pool,
    "GlobalAveragePool": pool.global_pool,
    "GlobalMaxPool": pool.global_pool,
    "Flatten": shape.reshape,
    "Reshape": shape.reshape,
    "Squeeze": shape.reshape,
    "Unsqueeze": shape.reshape,
    "Transpose": shape.transpose,
    "Concat": shape.concat,
    "Split": shape.split,
    "Pad": shape.pad,
    "Gather": shape.gather,
    "Resize": resize,
    "Upsample": resize,
    "ConvTranspose": conv_transpose,
}
