"""Kernel-timing decisions kept across starts, so a later start (or a reload of the same artifact)
skips the timing that makes optimisation slow and can report ready sooner.

What is kept is only where each lane's alternative graph takes over (the outcome of timing it
against the plain graph); the graphs themselves are traced and verified on every start. A decision
holds for one artifact (its weights' sha256), one torch version and one CPU model: the file name
says all three, so a change of any of them is a miss and the timing runs again.
"""

import hashlib
import json
import logging
import os
import platform
from functools import cache
from pathlib import Path

import torch

from artifacts import ModelManifest
from service.runtime.runner import ModelRunner

logger = logging.getLogger("tinyserve.timing_cache")

Decisions = dict[str, int | None]  # lane -> batch size where its alternative takes over (None: never)


@cache
def machine_key() -> str:
    """torch's version and the CPU's model name and count, hashed."""
    model = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    text = f"{torch.__version__}|{model}|{os.cpu_count()}|{torch.get_num_threads()}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class TimingCache:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, manifest: ModelManifest, device: torch.device) -> Path:
        weights = manifest.files.get("weights.safetensors", "")[:16]
        return self.folder / f"{manifest.name}-{manifest.version}-{weights}-{device.type}-{machine_key()}.json"

    def get(self, manifest: ModelManifest, device: torch.device) -> Decisions | None:
        path = self.path(manifest, device)
        try:
            raw = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(raw, dict) or not all(v is None or isinstance(v, int) for v in raw.values()):
            logger.warning("ignoring %s: not a timing cache file", path)
            return None
        return {str(k): v for k, v in raw.items()}

    def put(self, manifest: ModelManifest, device: torch.device, decisions: Decisions) -> None:
        path = self.path(manifest, device)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            staging = path.with_suffix(f".{os.getpid()}.tmp")
            staging.write_text(json.dumps(decisions))
            staging.replace(path)  # whole or absent, with several workers writing at once
        except OSError as exc:  # a read-only cache costs speed at the next start, nothing else
            logger.warning("cannot write the timing cache %s: %s", path, exc)


def decisions_of(runner: ModelRunner) -> Decisions:
    return {name: lane.threshold if lane.faster is not None else None for name, lane in runner.plan.lanes.items()}


def apply(runner: ModelRunner, decisions: Decisions) -> bool:
    """Use cached takeover points on a runner optimised without timing; False if they do not fit its lanes."""
    lanes = runner.plan.lanes
    if set(decisions) != set(lanes):
        return False
    for name, threshold in decisions.items():
        lane = lanes[name]
        if threshold is None:
            lane.threshold = None
        elif lane.faster is not None:
            lane.threshold = threshold
    return True
