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
