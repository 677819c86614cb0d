"""IR partition -> TVM -> kernel objects. The only stage that imports TVM."""


def tvm_version() -> str:
    """The version of the TVM the kernels are compiled with."""
    import tvm

    return tvm.__version__
