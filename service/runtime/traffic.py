"""Traffic between a model's loaded versions: a weighted split (canary) and a shadow copy.

Both exist only when configured: a model without them answers every request from its current
version through one attribute read, so the request path pays nothing for these features.
"""

import asyncio
import logging
import random
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from service import metrics

if TYPE_CHECKING:
    from service.runtime.registry import ReadyModel

logger = logging.getLogger("tinyserve.traffic")

_NAME = r"[a-z0-9][a-z0-9._-]{0,63}"
_VERSION = r"[1-9][0-9]{0,8}"
_SPLIT = re.compile(rf"^({_NAME})=({_VERSION}:\d{{1,3}}(?:,{_VERSION}:\d{{1,3}})+)$")
_SHADOW = re.compile(rf"^({_NAME})=({_VERSION})$")
SLOTS = 100  # weights are percentages: a request's slot picks its version


def parse_split(spec: str) -> dict[str, dict[int, int]]:
    """``"digits-resnet=1:90,2:10;names-gru=1:50,2:50"`` as {model: {version: weight}}; weights sum to 100."""
    splits: dict[str, dict[int, int]] = {}
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        match = _SPLIT.match(part)
        if match is None:
            raise ValueError(
                f"traffic split {part!r}: use NAME=VERSION:WEIGHT,VERSION:WEIGHT, e.g. digits-resnet=1:90,2:10"
            )
        weights: dict[int, int] = {}
        for pair in match.group(2).split(","):
            version, _, weight = pair.partition(":")
            if int(version) in weights:
                raise ValueError(f"traffic split {part!r}: version {version} appears twice")
            weights[int(version)] = int(weight)
        if sum(weights.values()) != SLOTS:
            raise ValueError(f"traffic split {part!r}: the weights must sum to {SLOTS}")
        splits[match.group(1)] = weights
    return splits


def parse_shadow(spec: str) -> dict[str, int]:
    """``"digits-resnet=2"`` as {model: shadow version}; several separated by ``;``."""
    shadows: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        match = _SHADOW.match(part)
        if match is None:
            raise ValueError(f"shadow {part!r}: use NAME=VERSION, e.g. digits-resnet=2")
        shadows[match.group(1)] = int(match.group(2))
    return shadows


class TrafficSplit:
    """Picks a version per request by weight: at random, or by a hash of the request's id (sticky)."""

    def __init__(self, choices: "Sequence[tuple[ReadyModel, int]]", sticky: bool) -> None:
        self.slots: list[ReadyModel] = [model for model, weight in choices for _ in range(weight)]
        self.shares = {model.version: weight / SLOTS for model, weight in choices}
        self.sticky = sticky

    def pick(self, key: Callable[[], str | None] | None) -> "ReadyModel":
        if self.sticky and key is not None and (value := key()):
            return self.slots[zlib.crc32(value.encode()) % SLOTS]
        return self.slots[random.randrange(SLOTS)]


@dataclass
class ShadowStats:
    rows: int = 0
    agreed: int = 0
    abs_diff_sum: float = 0.0
    errors: int = 0

    @property
    def agreement(self) -> float | None:
        return self.agreed / self.rows if self.rows else None

    @property
    def mean_abs_diff(self) -> float | None:
        return self.abs_diff_sum / self.rows if self.rows else None


@dataclass(eq=False)
class Shadow:
    """A version that gets a sampled copy of the current version's inputs; its answers are only compared."""

    model: str
    current: int
    target: "ReadyModel"
    sample: float
    stats: ShadowStats = field(default_factory=ShadowStats)
    _pending: set["asyncio.Task[None]"] = field(default_factory=set)

    def __post_init__(self) -> None:
        labels = {"model": self.model, "version": str(self.current), "shadow": str(self.target.version)}
        self._agreement = metrics.SHADOW_AGREEMENT.labels(**labels)
        self._abs_diff = metrics.SHADOW_ABS_DIFF.labels(**labels)
        self._rows = metrics.SHADOW_ROWS.labels(**labels)
        self._errors = metrics.SHADOW_ERRORS.labels(**labels)

    def offer(self, payload: Any, size: int, outputs: np.ndarray) -> None:
        """Called after the current version answered: queue the same input for the shadow, off the request."""
        if self.sample < 1.0 and random.random() >= self.sample:
            return
        task = asyncio.get_running_loop().create_task(self._compare(payload, size, outputs))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _compare(self, payload: Any, size: int, outputs: np.ndarray) -> None:
        try:
            shadow_outputs, _ = await self.target.batcher.submit(payload, size)
        except Exception as exc:  # overloaded, deadline, a failing forward: counted, never the request's
            self.stats.errors += 1
            self._errors.inc()
            logger.debug("shadow %s v%d failed: %s", self.model, self.target.version, exc)
            return
        self.record(outputs, shadow_outputs)

    def record(self, current: np.ndarray, shadow: np.ndarray) -> None:
        rows = current.shape[0]
        if current.ndim == 2 and current.shape[1] > 1:
            agreed = int((current.argmax(axis=1) == shadow.argmax(axis=1)).sum())
        else:  # one value per row (regression): "agree" when equal to float32 precision
            agreed = int(np.isclose(current, shadow, rtol=1e-5, atol=1e-6).reshape(rows, -1).all(axis=1).sum())
        diff = np.abs(current.astype(np.float64) - shadow.astype(np.float64)).reshape(rows, -1).mean(axis=1)
        self.stats.rows += rows
        self.stats.agreed += agreed
        self.stats.abs_diff_sum += float(diff.sum())
        self._rows.inc(rows)
        self._agreement.set(self.stats.agreement or 0.0)
        self._abs_diff.set(self.stats.mean_abs_diff or 0.0)

    async def settle(self) -> None:
        """Wait for the comparisons under way (tests, and before the shadow's version is unloaded)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)
