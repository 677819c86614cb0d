"""Relax emitters: one function per IR op, collected in one registry.

An emitter receives the EmitContext and the node, and returns one Relax expression per
node output (None for an omitted optional output).
"""

from deepxc.lower.relax_ops import elementwise

EMITTERS = {
    "Relu": elementwise.relu,
    "Add": elementwise.add,
}
