"""A unit block as the model gives it, before any processor is considered: IR layers that
run as one piece (one fused kernel, usually), with the work and the bytes they move."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class UnitBlock:
    name: str  # the anchor layer's name; a slice: f"{group}@{i}of{n}"
    layers: list[str]  # IR layers, in the model's order
    kind: str  # conv | depthwise | dense | pool | elementwise
    macs: int
    kernels: int  # the kernels lowering makes of it (usually 1)
    bytes_in: int  # activations read (not weights)
    bytes_out: int  # activations written
    weight_bytes: int
    inputs: list[str]  # activation tensors it reads from outside the block
    outputs: list[str]  # tensors it makes that leave it (or are model outputs)
    sliceable: bool = False  # its output channels can be split between processors
    channels: int = 0  # output channels
    slice_of: str = ""  # a slice: the block it is part of
    slice_index: int = 0
    slices: int = 1
    channel_range: tuple[int, int] = (0, 0)  # a slice: its output channels [lo, hi)
    # work that is not MACs, which the cost model takes as the MAC term of its class: a
    # pool block's window reads (output elements x window; a global pool or a reduction:
    # its input elements); 0 for the other kinds
    ops: int = 0
