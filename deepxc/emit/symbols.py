"""The external names of a bundle, all under one prefix, so that bundles built with
different `--name`s link into one program (a watch running two models)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from deepxc.errors import BundleError

DEFAULT_API = "deepx"
DEFAULT_KERNEL_PREFIX = "dx"

# What TVM-generated kernel objects call or define under fixed names: renamed in each
# copied object to the bundle's own names (the runtime defines those).
TVM_BACKEND = {
    "alloc_workspace": "__TVMBackendAllocWorkspace",
    "free_workspace": "__TVMBackendFreeWorkspace",
    "parallel_launch": "__TVMBackendParallelLaunch",
    "parallel_barrier": "__TVMBackendParallelBarrier",
    "error_set": "TVMFFIErrorSetRaisedFromCStrParts",
}

_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]{0,30}")
_C_KEYWORDS = {
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else",
    "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long", "register",
    "restrict", "return", "short", "signed", "sizeof", "static", "struct", "switch",
    "typedef", "union", "unsigned", "void", "volatile", "while",
}  # fmt: skip


@dataclass(frozen=True)
class BundleNames:
    api: str  # functions and types: deepx_init, deepx_ctx
    macro: str  # macros: DEEPX_ARENA_BYTES
    kernels: str  # kernel symbols: dx_cpu_conv2d
    backend: dict[str, str] = field(default_factory=dict)  # TVM_BACKEND role -> symbol
    library: str = "model"  # the CMake library target (libmodel.a) ...
    driver: str = "model_main"  # ... and test driver target; kws_model, kws_model_main
    driver_option: str = "MODEL_BUILD_DRIVER"  # the CMake option that adds the driver

    def backend_renames(self) -> dict[str, str]:
        """TVM's symbol -> this bundle's, for the kernel objects."""
        return {TVM_BACKEND[role]: symbol for role, symbol in self.backend.items()}


def bundle_names(name: str | None = None) -> BundleNames:
    """The names of a bundle built with `--name name` (None: the default deepx_ names)."""
    if name is not None:
        _check_name(name)
    api = name or DEFAULT_API
    library = f"{name}_model" if name else "model"
    return BundleNames(
        api=api,
        macro=api.upper(),
        kernels=name or DEFAULT_KERNEL_PREFIX,
        backend={role: f"{api}_tvm_{role}" for role in TVM_BACKEND},
        library=library,
        driver=f"{library}_main",
        driver_option=f"{library.upper()}_BUILD_DRIVER",
    )


def _check_name(name: str) -> None:
    if not _IDENTIFIER.fullmatch(name) or name.endswith("_"):
        raise BundleError(
            f"--name {name!r}: expected a lower-case C identifier of 1 to 31 characters "
            "(a-z, digits, '_'; starting with a letter, not ending with '_'), e.g. --name kws"
        )
    if name in _C_KEYWORDS or name == DEFAULT_KERNEL_PREFIX:
        raise BundleError(f"--name {name!r}: reserved (a C keyword, or the default kernel prefix)")
