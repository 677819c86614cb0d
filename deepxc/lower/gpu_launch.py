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
    params: list[str]  # buffer names of the PrimFunc, in the kernel's parameter order
    scratch: dict[str, TensorSpec]  # those of them that are the PrimFunc's own buffers
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
        launches[name] = [_launch(call, kernels, module[name]) for call in _kernel_calls(host_func)]
    return launches


def _kernel_calls(func: tirx.PrimFunc) -> list[tvm.ir.Call]:
    calls = []

    def visit(node):
        if isinstance(node, tvm.ir.Call) and getattr(node.op, "name", "") == "tirx.call_ffi_kernel":
            calls.append(node)

    tvm_ffi.structural_walk(func.body, visit, order="pre")
    return calls


def _launch(call: tvm.ir.Call, kernels: dict, func: tirx.PrimFunc) -> KernelLaunch:
    name = str(call.args[0].value)
    kernel = kernels[name]
    params = [p.name.removesuffix("_ptr") for p in kernel.params]
    own = {p.name for p in func.params}
    scratch = _global_buffers(func, [p for p in params if p not in own])
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


def _global_buffers(func: tirx.PrimFunc, names: list[str]) -> dict[str, TensorSpec]:
    """The shapes of the buffers `names` that `func` allocates in global memory."""
    found = {}

    def visit(node):
        if isinstance(node, tirx.Buffer) and node.name in names and node.scope() == "global":
            found[node.name] = TensorSpec(tuple(int(d) for d in node.shape), str(node.dtype))

    tvm_ffi.structural_walk(func, visit, order="pre")
    missing = [n for n in names if n not in found]
    if missing:
        raise ValueError(f"kernel parameters {missing} are neither arguments nor buffers")
    return found


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
