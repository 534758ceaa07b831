"""A loaded model on its device, for any task kind: the task batches payloads, the plan picks the graph."""

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch

from artifacts import LoadedArtifact
from service.runtime.graphs import GraphPlan
from service.settings import Settings
from service.tasks import Task, task_class


class ModelRunner:
    """``forward`` runs on the batch worker thread over the concatenation of many requests' payloads."""

    def __init__(self, task: Task[Any, Any], artifact: LoadedArtifact, device: torch.device) -> None:
        self.task = task
        self.golden = artifact.golden
        model = artifact.model.to(device).eval()
        self.plan = GraphPlan(task.lanes(model, artifact.golden, device), device)

    @classmethod
    def for_artifact(cls, artifact: LoadedArtifact, device: torch.device, settings: Settings) -> "ModelRunner":
        """The runner of an artifact, with the task its manifest names."""
        return cls(task_class(artifact.manifest.task)(artifact.manifest, settings), artifact, device)

    def forward(self, payloads: Sequence[Any]) -> np.ndarray:
        """Outputs for every row of ``payloads``, in order (e.g. probabilities (rows, classes) float32)."""
        batch = self.task.collate(payloads)
        return self.plan.run(batch.lane, batch.inputs, batch.rows)

    def golden_error(self) -> float:
        """Largest absolute difference from the outputs recorded at training time: through the whole
        path a request takes (preparation, batching, graph), and through every lane's graphs."""
        outputs = self.forward([self.task.golden_payload(self.golden)])
        return max(self.golden.max_abs_error(torch.from_numpy(outputs)), self.plan.golden_error())

    def optimise(self, tolerance: float, autotune: bool) -> None:
        self.plan.optimise(tolerance, autotune)

    def time_kernels(self) -> None:
        """Time the alternatives of a runner optimised without timing (it ran the fixed thresholds)."""
        self.plan.time_kernels()

    @property
    def graph(self) -> Literal["eager", "traced"]:
        """What the model's main lane runs: ``traced`` once a verified graph was swapped in."""
        main = next(iter(self.plan.lanes.values()))
        return "eager" if main.graph.name == "eager" else "traced"

    def takes_over(self, alternative: Literal["onednn", "stepwise"]) -> int | None:
        """The batch size from (oneDNN) or up to (stepwise) which that alternative graph runs; None: never."""
        for lane in self.plan.lanes.values():
            if lane.faster is not None and lane.faster.name == alternative:
                return lane.threshold
        return None

    def describe(self) -> str:
        graphs = f"its {self.graph} graph"
        if onednn := self.takes_over("onednn"):
            graphs += f", oneDNN kernels on channels-last from batch {onednn}"
        if stepwise := self.takes_over("stepwise"):
            graphs += f", the stepwise GRU up to batch {stepwise}"
        return graphs
