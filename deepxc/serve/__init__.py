"""The remote side: a bundle's remote partitions served over KServe v2 (Triton via
PyTriton), each run in process by a deepxc host bundle. Around the compiler, not in it:
it calls the pipeline like a user would, and no stage imports it."""
