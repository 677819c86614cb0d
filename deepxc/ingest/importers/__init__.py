"""ONNX op importers: one small function per op, collected in one registry.

An importer receives the IR node made from the ONNX node (ONNX attribute names, Python
values) and the graph built so far. It checks what deepxc supports, fills in defaults,
and returns the node to add, or None when it folded the node into the graph (Constant).
"""

from deepxc.ingest.importers import conv, dense, elementwise, normalization, pool, shape
from deepxc.ingest.importers.common import passthrough
from deepxc.ingest.importers.constant import constant
from deepxc.ingest.importers.conv_transpose import conv_transpose
from deepxc.ingest.importers.resize import resize, upsample

IMPORTERS = {
    "Conv": conv.conv,
    "Gemm": dense.gemm,
    "MatMul": passthrough,
    "Add": elementwise.binary,
    "Sub": elementwise.binary,
    "Mul": elementwise.binary,
    "Div": elementwise.binary,
    "Sum": passthrough,
    "Relu": passthrough,
    "LeakyRelu": passthrough,
    "Clip": passthrough,
    "Sigmoid": passthrough,
    "Tanh": passthrough,
    "HardSigmoid": passthrough,
    "HardSwish": passthrough,
    "Softmax": shape.with_axis,
    "LogSoftmax": shape.with_axis,
    "BatchNormalization": normalization.batch_norm,
    "LRN": normalization.lrn,
    "LayerNormalization": normalization.layer_norm,
    "MaxPool": pool.pool,
    "AveragePool": pool.pool,
    "GlobalAveragePool": pool.global_pool,
    "GlobalMaxPool": pool.global_pool,
    "ReduceMean": passthrough,
    "ReduceSum": passthrough,
    "ReduceMax": passthrough,
    "Flatten": shape.flatten,
    "Reshape": shape.reshape,
    "Transpose": shape.transpose,
    "Squeeze": passthrough,
    "Unsqueeze": passthrough,
    "Concat": shape.with_axis,
    "Split": shape.with_axis,
    "Pad": shape.pad,
    "Expand": passthrough,
    "Slice": passthrough,
    "Dropout": elementwise.dropout,
    "Identity": passthrough,
    "Cast": passthrough,
    "Constant": constant,
    "ConstantOfShape": passthrough,
    "Shape": passthrough,
    "Gather": shape.with_axis,
    "Resize": resize,
    "Upsample": upsample,
    "ConvTranspose": conv_transpose,
}
