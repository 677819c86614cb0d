"""MaxPool (1-D, 2-D, 3-D), GlobalMaxPool and ReduceMax whose windows keep NaN and -inf.

TVM's max pools and max reduction combine with `a > b ? a : b`, starting from the lowest
finite float: a NaN met in a window resets the running max (the NaN, and what came
before it, are lost) and a window of -inf gives the lowest finite float. Here a window
holding a NaN gives NaN, as numpy's max, the ONNX reference's GlobalMaxPool and PyTorch
do (onnxruntime keeps a NaN only at some window positions), and the start and the
padding are -inf, so a window of -inf gives -inf.

The windows combine with `keep_nan.maximum`. The pools have no schedule rule of their
own: the padding is a bound check in the window loop, on the sides some window crosses
only.
"""

from __future__ import annotations

from tvm import te, tirx

from deepxc.schedules import keep_nan


def _lowest(dtype) -> tirx.PrimExpr:
    dtype = str(dtype)
    return tirx.const(float("-inf"), dtype) if "float" in dtype else tirx.min_value(dtype)


NAN_MAX = te.comm_reducer(keep_nan.maximum, _lowest, name="nan_max")


def compute(
    data: te.Tensor, kernel: list[int], strides: list[int], dilations: list[int], pads: list[int]
) -> te.Tensor:
    """Floor-mode max pooling of NC... `data`; `pads` are [begin..., end...]."""
    rank = len(kernel)
    batch, channels, *spatial = (int(d) for d in data.shape)
    out = [
        (size + pads[i] + pads[rank + i] - (kernel[i] - 1) * dilations[i] - 1) // strides[i] + 1
        for i, size in enumerate(spatial)
    ]
    taps = [te.reduce_axis((0, k), name=f"tap{i}") for i, k in enumerate(kernel)]

    def window(n, c, *position):
        index = [position[i] * strides[i] + taps[i] * dilations[i] - pads[i] for i in range(rank)]
        bounds = []  # only the sides a window crosses: the others cost a compare per tap
        for i, size in enumerate(spatial):
            if pads[i]:
                bounds.append(index[i] >= 0)
            if (out[i] - 1) * strides[i] + (kernel[i] - 1) * dilations[i] - pads[i] >= size:
                bounds.append(index[i] < size)
        value = data[(n, c, *index)]
        if bounds:
            value = tirx.if_then_else(tirx.all(*bounds), value, _lowest(data.dtype))
        return NAN_MAX(value, axis=taps)

    return te.compute((batch, channels, *out), window, name="dx_max_pool")


def global_compute(data: te.Tensor) -> te.Tensor:
    """The max over all spatial positions of NC... `data`, kept as size-1 axes."""
    return reduce_max(data, list(range(2, len(data.shape))), keepdims=True)


def reduce_max(data: te.Tensor, axes: list[int], keepdims: bool) -> te.Tensor:
    """The max of `data` over `axes` (non-negative), NaN kept; `keepdims` keeps them as
    size-1 axes."""
    shape = [int(d) for d in data.shape]
    reduced = {axis: te.reduce_axis((0, shape[axis]), name=f"r{axis}") for axis in axes}
    out_shape = [
        1 if axis in reduced else size
        for axis, size in enumerate(shape)
        if keepdims or axis not in reduced
    ]

    def value(*index):
        kept = iter(index)
        position = []
        for axis in range(len(shape)):
            if axis in reduced:
                position.append(reduced[axis])
                if keepdims:
                    next(kept)
            else:
                position.append(next(kept))
        return NAN_MAX(data[tuple(position)], axis=list(reduced.values()))

    return te.compute(out_shape, value, name="dx_reduce_max")
