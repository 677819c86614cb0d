"""Runs a GpuPartition's launch table with pyopencl, as the generated runtime will:
build the source once, upload weights and inputs, enqueue every launch with its work
sizes, read the outputs. pocl (Debian's pocl-opencl-icd) is the device here."""

from __future__ import annotations

import time

import numpy as np
import pyopencl as cl

from deepxc.artifacts import GpuPartition


def opencl_device() -> cl.Device | None:
    """The first OpenCL device, or None where there is none (no ICD installed)."""
    try:
        platforms = cl.get_platforms()
    except cl.Error:
        return None
    devices = [d for p in platforms for d in p.get_devices()]
    return devices[0] if devices else None


class OpenCLHost:
    def __init__(self, partition: GpuPartition, device: cl.Device):
        self.partition = partition
        self.device = device
        self.context = cl.Context([device])
        self.queue = cl.CommandQueue(self.context)
        self.program = cl.Program(self.context, partition.source).build(
            options=[f"-cl-std=CL{partition.opencl_c}"]
        )
        self.kernels = {
            name: cl.Kernel(self.program, name)
            for name in dict.fromkeys(launch.kernel for launch in partition.launches)
        }
        flags = cl.mem_flags
        self.buffers = {}
        for name, buffer in partition.buffers.items():
            if name in partition.weights:
                array = np.ascontiguousarray(partition.weights[name])
                self.buffers[name] = cl.Buffer(
                    self.context, flags.READ_ONLY | flags.COPY_HOST_PTR, hostbuf=array
                )
            else:
                size = max(buffer.spec.nbytes, 1)  # OpenCL has no empty buffer
                self.buffers[name] = cl.Buffer(self.context, flags.READ_WRITE, size)

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """The partition's outputs for `inputs` (in the partition's input order)."""
        for name, array in zip(self.partition.inputs, inputs):
            cl.enqueue_copy(self.queue, self.buffers[name], np.ascontiguousarray(array))
        self.enqueue()
        outputs = []
        for name in self.partition.outputs:
            spec = self.partition.buffers[name].spec
            out = np.empty(spec.shape, spec.dtype)
            cl.enqueue_copy(self.queue, out, self.buffers[name])
            outputs.append(out)
        self.queue.finish()
        return outputs

    def enqueue(self) -> None:
        for launch in self.partition.launches:
            kernel = self.kernels[launch.kernel]
            kernel.set_args(*(self.buffers[a.buffer] for a in launch.args))
            cl.enqueue_nd_range_kernel(self.queue, kernel, launch.global_size, launch.local_size)

    def median_ms(self, repeat: int) -> float:
        """Median time of the launches alone (inputs already on the device)."""
        self.enqueue()
        self.queue.finish()
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            self.enqueue()
            self.queue.finish()
            times.append((time.perf_counter() - start) * 1e3)
        return float(np.median(times))
