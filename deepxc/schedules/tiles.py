"""Helpers shared by the schedule rules."""

from __future__ import annotations

from tvm import s_tir, te, tirx


def epilogue_output(sch: s_tir.Schedule, main: s_tir.SBlockRV) -> s_tir.SBlockRV:
    """Inline every block after `main` but the last (a rule's read-back stage and the
    elementwise epilogues FuseOps appended) and return the last: the kernel's output,
    whose loop nest the rule then tiles."""
    blocks = sch.get_child_blocks(sch.get_sblock("root"))
    names = [sch.get(b).name_hint for b in blocks]
    start = names.index(sch.get(main).name_hint)
    for block in blocks[start + 1 : -1]:
        sch.compute_inline(block)
    return blocks[-1]


def axis_loops(sch: s_tir.Schedule, block: s_tir.SBlockRV, axes: list[tuple[str, int]]) -> dict:
    """The loops compute_at made for `block`, by axis name. `axes` lists the block's axes
    under the compute_at point in order, with their extents; compute_at makes one loop per
    axis wider than one, so narrower axes have no loop."""
    present = [name for name, extent in axes if extent > 1]
    return dict(zip(present, sch.get_loops(block)[-len(present) :])) if present else {}


def unroll_then_vectorize(sch: s_tir.Schedule, loops: list, vectorize_last: bool) -> None:
    """Unroll `loops`, all but the last if that one is to be vectorized."""
    for loop in loops[:-1] if vectorize_last else loops:
        sch.unroll(loop)
    if vectorize_last and loops:
        sch.vectorize(loops[-1])


def padded_input(data: te.Tensor, top: int, left: int, height: int, width: int) -> te.Tensor:
    """NCHW `data` placed at (top, left) in a zero plane of height x width: the stage
    "dx_pad", or `data` itself when that changes nothing."""
    batch, channels, rows, cols = (int(d) for d in data.shape)
    if not (top or left or height > rows or width > cols):
        return data
    zero = tirx.const(0.0, data.dtype)

    def pad(n, c, h, w):
        inside = tirx.all(h >= top, h < rows + top, w >= left, w < cols + left)
        return tirx.if_then_else(inside, data[n, c, h - top, w - left], zero)

    return te.compute((batch, channels, height, width), pad, name="dx_pad")
