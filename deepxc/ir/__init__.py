"""The intermediate representation shared by every stage."""

from deepxc.ir.graph import Graph, Node, RankStore, TensorSpec
from deepxc.ir.verify import verify

__all__ = ["Graph", "Node", "RankStore", "TensorSpec", "verify"]
