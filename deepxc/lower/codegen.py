"""TIR kernels -> one object file for the target, and the C signature of each kernel."""

from __future__ import annotations

import tvm
import tvm_ffi
from tvm import s_tir, tirx

from deepxc.artifacts import Kernel
from deepxc.lower.kernel_calls import spec_of
from deepxc.schedules import schedule_kernel

PACKED_PREFIX = "__tvm_ffi_"


def tvm_target(target_options: dict) -> tvm.target.Target:
    options = dict(target_options)
    if options.get("mcpu") == "native":
        options["mcpu"] = tvm.target.codegen.llvm_get_system_cpu()
    return tvm.target.Target(options)


def build_kernels(
    module: tvm.IRModule,
    names: list[str],
    symbol_prefix: str,
    target_options: dict,
    path: str,
    threads: int = 1,
    lanes: int = 4,
    built: dict | None = None,
) -> tuple[dict[str, Kernel], int, list[Kernel]]:
    """Build the named PrimFuncs into an object file at `path`.

    Returns the kernels by PrimFunc name, the workspace (bytes) the largest one may ask
    for, and the kernels compiled into `path` (none: no file is written). `built` carries
    the kernels of earlier calls (the other levels of a bundle): a kernel structurally
    equal to one of them is not compiled again but called under that one's symbol.
    Kernels keep TVM's packed calling convention inside the object with its argument
    checks compiled out; the runtime calls them through generated plain C wrappers.
    """
    built = {} if built is None else built
    functions = {}
    kernels = {}
    new = []
    workspace = 0
    for name in names:
        func = schedule_kernel(module[name], threads, lanes)
        key = tvm_ffi.structural_hash(func)
        twin = next(
            (k for f, k, _ in built.get(key, []) if tvm_ffi.structural_equal(f, func)), None
        )
        if twin is not None:
            kernels[name] = twin
            workspace = max(workspace, next(b for _, k, b in built[key] if k is twin))
            continue
        symbol = f"{symbol_prefix}{name}"
        functions[symbol] = func.with_attr("global_symbol", symbol)
        kernels[name] = Kernel(symbol, PACKED_PREFIX + symbol, [spec_of(p.ty) for p in func.params])
        scratch = _scratch_bytes(func)
        workspace = max(workspace, scratch)
        built.setdefault(key, []).append((func, kernels[name], scratch))
        new.append(kernels[name])
    if functions:
        with tvm.transform.PassContext(opt_level=3, config={"tirx.disable_assert": True}):
            runtime_module = tvm.tirx.build(tvm.IRModule(functions), tvm_target(target_options))
        runtime_module.write_to_file(path)
    return kernels, workspace, new


def _scratch_bytes(func: tirx.PrimFunc) -> int:
    """Upper bound on the intermediate buffers a kernel allocates (64-byte aligned each),
    measured after TVM shrinks each buffer to the region its loop nest uses."""
    compact = tvm.transform.Sequential(
        [
            s_tir.transform.LowerInitBlock(),
            s_tir.transform.PlanAndUpdateBufferAllocationLocation(),
            s_tir.transform.ConvertBlocksToOpaque(),
            s_tir.transform.CompactBufferAllocation(),
        ]
    )(tvm.IRModule({"main": func}))["main"]
    total = 0
    for buffer in _alloc_buffers(compact.body):
        ty = buffer.ty
        count = 1
        for dim in ty.shape:
            count *= int(dim)
        nbytes = count * tvm.runtime.DataType(str(ty.dtype)).bits // 8
        total += (nbytes + 63) // 64 * 64
    return total


def _alloc_buffers(stmt):
    block = getattr(stmt, "block", None)
    if block is not None:
        yield from block.alloc_buffers
        yield from _alloc_buffers(block.body)
        return
    for child in _children(stmt):
        yield from _alloc_buffers(child)


def _children(stmt):
    if isinstance(stmt, tirx.SeqStmt):
        return list(stmt.seq)
    if isinstance(stmt, tirx.IfThenElse):
        return [s for s in (stmt.then_case, stmt.else_case) if s is not None]
    body = getattr(stmt, "body", None)
    return [body] if isinstance(body, tirx.Stmt) else []
