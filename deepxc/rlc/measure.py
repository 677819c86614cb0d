"""Run a graph on the calibration examples with onnxruntime, with some weights swapped.

The weights of every layer RLC may factor are fed as inputs of one onnxruntime session,
so trying a layer at a rank (its weights replaced by the rank-r reconstruction, which is
what the factored pair computes) costs one run, not one model build. All examples go in
one batch when the graph allows it; otherwise they go one model batch at a time.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from deepxc.ir import Graph
from deepxc.ir.export import to_onnx
from deepxc.rlc.calibration import Calibration

ort.set_default_logger_severity(4)  # errors come back as exceptions; the batched try may fail


class Evaluator:
    def __init__(self, graph: Graph, calibration: Calibration, swappable=()):
        self.graph = graph
        self.calibration = calibration
        self.swappable = list(swappable)
        self.batched = True
        try:
            self._session = _session(to_onnx(graph, self.swappable, batch="batch"))
            self.reference = self.outputs()
        except Exception:  # a graph with its batch size baked in (a Reshape, say)
            self.batched = False
            self._session = _session(to_onnx(graph, self.swappable))
            self.reference = self.outputs()

    def outputs(
        self, weights: dict[str, np.ndarray] | None = None, examples: int | None = None
    ) -> np.ndarray:
        """The first model output for every example (or the first `examples`),
        [examples, ...], with `weights` in place of the graph's constants of those names."""
        feeds = {name: self.graph.constants[name] for name in self.swappable}
        feeds.update(weights or {})
        inputs = {name: array[:examples] for name, array in self.calibration.inputs.items()}
        if self.batched:
            return self._session.run(None, {**feeds, **inputs})[0]
        step = self.graph.spec(self.graph.inputs[0]).shape[0]
        count = len(next(iter(inputs.values()))) // step * step
        results = [
            self._session.run(None, {**feeds, **{k: v[i : i + step] for k, v in inputs.items()}})[0]
            for i in range(0, count, step)
        ]
        return np.concatenate(results)

    def error(self, outputs: np.ndarray) -> float:
        """Squared error of `outputs` relative to the uncompressed model's, over all
        examples: how far a change moves what the network computes."""
        reference = self.reference[: len(outputs)].astype(np.float64)
        return float(np.sum((outputs - reference) ** 2) / max(np.sum(reference**2), 1e-30))

    def accuracy(self, outputs: np.ndarray) -> float:
        """Top-1 accuracy against the labels, or without labels the share of examples
        whose top class agrees with the uncompressed model's."""
        predicted = _top1(outputs)
        labels = self.calibration.labels
        truth = labels[: len(predicted)] if labels is not None else _top1(self.reference)
        return float(np.mean(predicted == truth))

    @property
    def measures(self) -> str:
        return "accuracy" if self.calibration.labels is not None else "agreement"


def _top1(outputs: np.ndarray) -> np.ndarray:
    return np.argmax(outputs.reshape(len(outputs), -1), axis=1)


def _session(model) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 4
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
