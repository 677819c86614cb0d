"""Scheduled GPU PrimFuncs -> lowered device kernels and, per PrimFunc, the launches it
makes, read from the TIR that TVM's own build lowers to.

A PrimFunc lowers to a host function that launches device kernels in order
(`call_ffi_kernel(name, data pointers..., extents...)`, with the launch tags
`blockIdx.x`, `threadIdx.y`, ... of the extents); a device kernel's parameters are the
buffers it touches (`<buffer>_ptr`, in name order, not the PrimFunc's order) and it
allocates its local (shared) arrays statically. A PrimFunc of several kernels (a
reduction and its epilogue) hands values between them in a global buffer of its own: a
scratch buffer the runtime allocates once like the others. Neither TVM's OpenCL module
(source only) nor its PTX carries this table, so the runtime generator gets it from here.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import tvm
import tvm_ffi
from tvm import tirx

from deepxc.ir import TensorSpec

AXES = "xyz"
DYNAMIC_SHARED = "tirx.use_dyn_shared_memory"
SHARED_ALIGN = 64  # the largest alignment LLVM gives a shared array (PTX pads to it)

# `tvm.tirx.build` is both a function and the module holding split_host_device_mods
_tir_build = sys.modules["tvm.tirx.build"]


@dataclass
class KernelLaunch:
    kernel: str
    # the buffers it takes, in the kernel's parameter order: the PrimFunc's parameters by
    # index, and buffers the PrimFunc allocates by a key of their own (`name#k`, in `scratch`)
    params: list[int | str]
    scratch: dict[str, TensorSpec]
    global_size: tuple[int, int, int]
    local_size: tuple[int, int, int]
    local_memory_bytes: int
    dynamic_local_bytes: int


def lower_device(module: tvm.IRModule, target: tvm.target.Target):
    """Scheduled PrimFuncs -> (host module, device module, device target) through TVM's
    TIR pipeline, split as `tvm.tirx.build` splits them. The host functions stay before
    their finalization, where they launch the device kernels by name; the device module
    is ready for a code generator."""
    module = tirx.transform.BindTarget(target)(module)
    pipeline, _, finalize_device = tvm.tirx.get_tir_pipeline("default")
    host, devices = _tir_build.split_host_device_mods(pipeline(module))
    ((device_target, device),) = devices.items()
    return host, finalize_device()(device), device_target


def read_launches(
    module: tvm.IRModule, host: tvm.IRModule, device: tvm.IRModule
) -> dict[str, list[KernelLaunch]]:
    """Each PrimFunc of `module` (by name): the kernels its host function launches."""
    kernels = {gv.name_hint: func for gv, func in device.functions_items()}
    names = {gv.name_hint for gv in module.get_global_vars()}
    launches = {}
    for host_func in host.functions.values():
        name = str(host_func.attrs["global_symbol"]).removeprefix("__tvm_ffi_")
        if name not in names:
            continue
        buffers = _HostBuffers(host_func)
        launches[name] = [_launch(call, kernels, buffers) for call in buffers.calls]
    return launches


class _HostBuffers:
    """What a lowered host function passes its kernels. Each launch passes buffers' data
    pointers; a buffer is told by the object, not by its name (the three outputs of a
    Split are all `T_split`; a softmax's sums are `compute` like its output):

    - a parameter's buffer is declared over the pointer the function reads from its
      arguments (`tvm_struct_get(args, i, ...)`: parameter i), or over another such
      buffer's data (a view);
    - a buffer the function allocates itself is a scratch buffer between its kernels."""

    def __init__(self, func: tirx.PrimFunc):
        self.declared: list[tuple] = []  # (buffer, the data expression it is declared over)
        self.allocated: list = []
        self.calls: list[tvm.ir.Call] = []
        self.bound: dict = {}  # a Var -> the value bound to it

        def visit(node):
            kind = type(node).__name__
            if kind == "DeclBuffer":
                self.declared.append((node.buffer, node.data))
            elif kind == "AllocBuffer":
                self.allocated.append(node.buffer)
            elif kind == "Bind":
                self.bound[node.var] = node.value
            elif isinstance(node, tvm.ir.Call) and _op(node) == "tirx.call_ffi_kernel":
                self.calls.append(node)

        tvm_ffi.structural_walk(func.body, visit, order="pre")

    def allocation(self, buffer) -> int | None:
        return next((i for i, b in enumerate(self.allocated) if b.same_as(buffer)), None)

    def parameter(self, buffer, depth: int = 0) -> int | None:
        """The index of the function parameter whose memory `buffer` is, if it is one."""
        for declared, data in self.declared:
            if not declared.same_as(buffer) or depth > 8:
                continue
            if _op(data) == "tirx.buffer_data":  # a view of another buffer
                return self.parameter(data.args[0], depth + 1)
            # data = ...tvm_struct_get(handle, 0, ...), handle = ...tvm_struct_get(args, i, ...)
            pointer = _first_struct_get(data)
            if pointer is not None and pointer.args[0] in self.bound:
                argument = _first_struct_get(self.bound[pointer.args[0]])
                return int(argument.args[1]) if argument is not None else None
        return None


def _op(node) -> str:
    return getattr(getattr(node, "op", None), "name", "")


def _first_struct_get(expr) -> tvm.ir.Call | None:
    """The first `tvm_struct_get(handle, index, field, ...)` in `expr`, if any."""
    found = []

    def visit(node):
        if not found and isinstance(node, tvm.ir.Call) and _op(node) == "tirx.tvm_struct_get":
            found.append(node)

    tvm_ffi.structural_walk(expr, visit, order="pre")
    return found[0] if found else None


def _launch(call: tvm.ir.Call, kernels: dict, buffers: _HostBuffers) -> KernelLaunch:
    name = str(call.args[0].value)
    kernel = kernels[name]
    params, scratch = [], {}
    for pointer in call.args[1 : 1 + len(kernel.params)]:
        if _op(pointer) != "tirx.buffer_data":
            raise ValueError(f"kernel {name}: argument {pointer} is not a buffer's data")
        buffer = pointer.args[0]
        index = buffers.allocation(buffer)
        if index is not None:  # the host function's own: a scratch buffer, made unique
            key = f"{buffer.name}#{index}"
            scratch[key] = TensorSpec(tuple(int(d) for d in buffer.shape), str(buffer.dtype))
            params.append(key)
            continue
        parameter = buffers.parameter(buffer)
        if parameter is None:
            raise ValueError(f"kernel {name}: buffer {buffer.name} is neither argument nor scratch")
        params.append(parameter)
    tags = [str(tag) for tag in call.attrs.launch_params]
    extents = dict(zip(tags, (int(e) for e in call.args[len(call.args) - len(tags) :])))
    local = tuple(extents.get(f"threadIdx.{a}", 1) for a in AXES)
    groups = tuple(extents.get(f"blockIdx.{a}", 1) for a in AXES)
    return KernelLaunch(
        kernel=name,
        params=params,
        scratch=scratch,
        global_size=tuple(g * t for g, t in zip(groups, local)),
        local_size=local,
        local_memory_bytes=_local_bytes(kernel),
        dynamic_local_bytes=extents.get(DYNAMIC_SHARED, 0),
    )


def _local_bytes(kernel: tirx.PrimFunc) -> int:
    """The static local (shared) memory the kernel allocates, at most: each allocation
    padded to SHARED_ALIGN, as ptxas may lay them out."""
    total = 0

    def visit(node):
        nonlocal total
        if isinstance(node, tirx.AllocBuffer) and node.buffer.scope() == "shared":
            ty = node.buffer.ty
            count = math.prod(int(d) for d in ty.shape)
            nbytes = count * tvm.runtime.DataType(str(ty.dtype)).bits // 8
            total += -(-nbytes // SHARED_ALIGN) * SHARED_ALIGN

    tvm_ffi.structural_walk(kernel.body, visit, order="pre")
    return total
