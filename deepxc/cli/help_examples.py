"""The "examples:" sections of `deepxc --help` and its subcommands' help. Every example
runs from the repository root (the models and calibration data are in examples/)."""

from __future__ import annotations

TOP = """\
examples (the common flows):
  deepxc targets                                           # the targets known by name
  deepxc ops                                               # the ONNX ops deepxc compiles
  deepxc inspect examples/tiny_cnn/model.onnx              # layers, MACs, arena estimate
  deepxc build examples/tiny_cnn/model.onnx -o bundle/     # compile for this machine
  deepxc run bundle/ --bench 20                            # run it: outputs, median latency
  deepxc build examples/tiny_cnn/model.onnx --target tegra-k1 -o k1/  # cross-compile
  deepxc run k1/                                           # runs under qemu-arm, and says so
  deepxc build examples/tiny_cnn/model.onnx --target tegra-k1 --emit-only -o k1-src/
  make -C k1-src/                                          # a firmware tree builds it itself
  deepxc report bundle/ -o report.html                     # plots and tables of a bundle
  deepxc plan examples/tiny_cnn/model.onnx --target tegra-k1  # CPU, GPU: who runs what
  deepxc demo                                              # a web page: run the examples

`deepxc COMMAND --help` has the options and more examples of each command.
"""

BUILD = """\
examples:
  deepxc build examples/tiny_cnn/model.onnx -o bundle/
  deepxc build examples/tiny_cnn/model.onnx --target aarch64 -o a64/
  deepxc build examples/tiny_cnn/model.onnx --target board.toml -o board/  # a target file
  deepxc build examples/tiny_cnn/model.onnx --target tegra-k1 --emit-only -o k1-src/
  deepxc build examples/tiny_cnn/model.onnx --threads 1 --embed-weights --name cnn -o fw/
  deepxc build examples/tiny_cnn/model.onnx --target host-opencl --plan auto -o planned/
  deepxc build examples/digits/model.onnx --place fc1=remote,relu4=remote,fc2=remote \\
      --remote http://127.0.0.1:8000 -o split/   # then: deepxc serve split/
  deepxc build examples/digits/model.onnx --rlc-macs 0.3 \\
      --calibration examples/digits/calibration.npz -o small/
  deepxc build examples/digits/model.onnx --rlc-levels 1.0,0.3,0.15 \\
      --calibration examples/digits/calibration.npz -o levels/

A target file is a copy of one in deepxc/targets/ (see `deepxc targets`), edited.
"""

INSPECT = """\
examples:
  deepxc inspect examples/tiny_cnn/model.onnx
  deepxc inspect examples/tiny_cnn/model.onnx --json
  deepxc inspect examples/digits/model.onnx --rlc --rlc-macs 0.3 \\
      --calibration examples/digits/calibration.npz
"""

TARGETS = """\
examples:
  deepxc targets
  deepxc build examples/tiny_cnn/model.onnx --target snapdragon-400 -o watch/
  deepxc build examples/tiny_cnn/model.onnx --target host-opencl --place gpu -o gpu/
  cp deepxc/targets/host.toml board.toml   # edit it: flags, cores, toolchain
  deepxc build examples/tiny_cnn/model.onnx --target board.toml -o board/
"""

REPORT = """\
examples:
  deepxc report bundle/                        # bundle/report.html, listed in its manifest
  deepxc report bundle/ -o report.html
  deepxc build examples/tiny_cnn/model.onnx --profile --report -o prof/  # with kernel times
  deepxc report prof/ --profile-from times.txt   # prof/model --profile's output on the board
"""
