"""Deep Architecture Decomposition: unit blocks, a cost model per target, and a plan that
assigns the blocks to the target's processors (CPU, GPU, remote) and schedules them.

Imports the IR, the target data (deepxc.targets: the cost model's constants) and
numpy/scipy/networkx only (no TVM), so planning stays fast to test."""
