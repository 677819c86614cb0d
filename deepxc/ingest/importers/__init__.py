"""ONNX op importers: one small function per op, collected in one registry.

An importer receives the IR node made from the ONNX node (ONNX attribute names, Python
values) and the graph built so far. It checks what deepxc supports, fills in defaults,
and returns the node to add, or None when it folded the node into the graph (Constant).
"""

from deepxc.ingest.importers import elementwise

IMPORTERS = {
    "Relu": elementwise.unary,
    "Add": elementwise.binary,
}
