"""Errors meant for users: the CLI prints them as one line, no traceback."""


class DeepxcError(Exception):
    """Base of every error a user can cause and fix."""


class InputFileError(DeepxcError):
    """A file the user gave is missing, unreadable or not what it should be."""


class InvalidGraph(DeepxcError):
    """The model graph breaks a rule (dangling input, cycle, bad shape...)."""


class UnsupportedOp(DeepxcError):
    """An operator (or an attribute of it) that deepxc cannot compile."""

    def __init__(self, node_name: str, op_type: str, reason: str = ""):
        self.node_name = node_name
        self.op_type = op_type
        detail = f": {reason}" if reason else ""
        super().__init__(f"node '{node_name}': unsupported op {op_type}{detail}")


class UnsupportedOps(DeepxcError):
    """Nodes whose ops deepxc does not compile at all, every one of them listed at once."""


class UnsupportedType(DeepxcError):
    """A tensor type deepxc cannot take at the model boundary."""


class ShapeError(DeepxcError):
    """A shape is unknown (symbolic) or invalid."""


class SizeLimitError(DeepxcError):
    """A tensor, or the weights, larger than a bundle can hold."""


class TargetError(DeepxcError):
    """An unknown target or a broken target file."""


class BundleError(DeepxcError):
    """An output directory or bundle that cannot be used."""


class RunError(DeepxcError):
    """Running a bundle failed, or its inputs do not match the model."""


class ToolchainError(DeepxcError):
    """The C compiler or another external tool failed."""


class LoweringMismatch(DeepxcError):
    """The compiled code would not compute the tensors the IR describes (a shape or dtype
    differs): a deepxc bug, refused at build time instead of giving wrong outputs."""


class LoweringError(DeepxcError):
    """TVM refuses to build a node's operator: the node's attributes and shapes break a
    rule that ingest does not check."""


class CompressionError(DeepxcError):
    """An RLC request that cannot be met or does not make sense (budget, calibration)."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (libraries often add pages of context)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
