"""Scheduled TIR -> PTX for a CUDA GPU of the target's [gpu] section, with the kernels'
device TIR kept for the launch table.

TVM 0.27's nvptx target (LLVM 22) cannot make PTX an old device loads, so the PTX is made
in two steps:

1. `target.build.nvptx` compiles the device kernels to LLVM IR, libdevice linked in.
2. LLVM re-reads that IR as text (`tvm.runtime.load_module` of a `.ll` file) under a
   generic `llvm` target with the PTX triple of the device's address size and `+ptxNN`
   for its ISA, and prints PTX.

Why step 2, measured on this TVM:
- The nvptx target takes no `mattr` (its `.version` is LLVM's minimum for the arch) and
  forces the `nvptx64` triple: 64-bit pointers, which a 32-bit process cannot pass.
- TVM marks kernels only with `!nvvm.annotations`. LLVM >= 20 takes a kernel from the
  `ptx_kernel` calling convention and converts the annotation only when it parses IR, so
  TVM's in-memory module prints every kernel as `.func`, which no launch can find; the
  re-read module has them as `.entry`.
- Step 1 cannot be skipped: a generic `llvm` target with an nvptx triple compiles through
  TVM's NVPTX code generator only for the 32-bit triple, and then links no libdevice
  (`__nv_fmaf` is left undefined).
The re-read IR needs the new target's datalayout, triple and `tvm_target` module flag
(which TVM's loader builds its LLVM target from); `_retarget` copies them from an empty
module LLVM makes for that target, the one text edit.

Two more defects are worked around through TVM's registries: the libdevice lookup (TVM
asks a callback that looks for the toolkit of an nvcc on PATH) and the block barrier
(`__syncthreads`), which TVM calls with LLVM 21's signature (LLVM 22's takes the barrier
id: "Incorrect number of arguments passed to called function").
"""

from __future__ import annotations

import functools
import json
import os
import re
import tempfile

import tvm
import tvm_ffi
from tvm import tirx

from deepxc.errors import ToolchainError
from deepxc.lower.cuda_tools import LIBDEVICE, WHEEL, find_cuda_file
from deepxc.lower.gpu_launch import lower_device
from deepxc.targets import Gpu


def nvptx_target(gpu: Gpu) -> tvm.target.Target:
    """The TVM target the GPU's kernels are scheduled and lowered for."""
    device = {
        "kind": "nvptx",
        "mcpu": gpu.arch,
        "max_num_threads": gpu.max_work_group_size,
    }
    return tvm.target.Target(device, host="llvm")


def lower_to_device(module: tvm.IRModule, target: tvm.target.Target):
    """`gpu_launch.lower_device` with the NVPTX workarounds installed."""
    _install_workarounds()
    return lower_device(module, target)


def emit_ptx(device: tvm.IRModule, device_target: tvm.target.Target, gpu: Gpu) -> str:
    """The device module's kernels as PTX for `gpu`: its arch, ISA and address size."""
    libdevice = find_cuda_file(LIBDEVICE)
    if libdevice is None:
        raise ToolchainError(
            "libdevice.10.bc not found: GPU kernels link CUDA's math library; "
            f"pip install {WHEEL}, or set CUDA_PATH to a CUDA toolkit"
        )
    # TVM asks this callback, whose default looks for the toolkit of an nvcc on PATH
    tvm_ffi.register_global_func(
        "tvm_callback_libdevice_path", lambda _arch: libdevice, override=True
    )
    llvm_ir = tvm.get_global_func("target.build.nvptx")(device, device_target).inspect_source("ll")
    triple = "nvptx-nvidia-cuda" if gpu.address_bits == 32 else "nvptx64-nvidia-cuda"
    options = {
        "kind": "llvm",
        "mtriple": triple,
        "mcpu": gpu.arch,
        "mattr": ["+ptx" + gpu.ptx_isa.replace(".", "")],
    }
    with tempfile.TemporaryDirectory() as scratch:
        path = os.path.join(scratch, "kernels.ll")
        with open(path, "w") as file:
            file.write(_retarget(llvm_ir, options))
        return tvm.runtime.load_module(path).inspect_source("asm")


def _retarget(llvm_ir: str, options: dict) -> str:
    """`llvm_ir` with the datalayout, triple and `tvm_target` flag LLVM gives an empty
    module of the target `options`. TVM's module has no flags of its own; keeping its
    datalayout under a 32-bit triple aborts the process inside LLVM."""
    empty = tvm.get_global_func("codegen.LLVMModuleCreate")(json.dumps(options), "target")
    header = empty.inspect_source("ll").splitlines()
    layout = {line.split(" = ")[0]: line for line in header if line.startswith("target ")}
    lines = [
        layout.get(line.split(" = ")[0], line) if line.startswith("target ") else line
        for line in llvm_ir.splitlines()
    ]
    if any(line.startswith("!llvm.module.flags") for line in lines):
        raise AssertionError("TVM's NVPTX module has module flags of its own now")
    flag = next(line.split(" = ", 1)[1] for line in header if '!"tvm_target"' in line)
    number = 1 + max((int(n) for n in re.findall(r"^!(\d+) = ", llvm_ir, re.M)), default=-1)
    lines += ["", f"!llvm.module.flags = !{{!{number}}}", f"!{number} = {flag}", ""]
    return "\n".join(lines)


@functools.cache  # once a process: TVM refuses a second registration
def _install_workarounds() -> None:
    tirx.register_intrin_lowering(
        "tirx.tvm_storage_sync", target="nvptx", f=_storage_sync, level=99
    )


def _storage_sync(op: tirx.Call) -> tirx.PrimExpr:
    """A block-wide barrier as LLVM 22 takes it: `bar.sync 0`, valid on every arch."""
    if op.args[0].value in ("shared", "shared.dyn"):
        return tirx.call_llvm_intrin(
            "void", "llvm.nvvm.barrier.cta.sync.aligned.all", tirx.const(0, "int32")
        )
    return op
