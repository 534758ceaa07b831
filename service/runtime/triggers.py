"""What starts a reload: SIGHUP, polling the model store, an admin call. All off unless configured.

Each runs ``lifecycle.reload`` on a thread (loading and optimising take seconds; the event loop
keeps serving), one reload at a time per process.
"""

import asyncio
import logging
import signal
from contextlib import suppress

from artifacts import ArtifactError
from service.runtime import lifecycle
from service.runtime.registry import ModelRegistry, ServedModel

logger = logging.getLogger("tinyserve.triggers")


class Reloader:
    def __init__(self, registry: ModelRegistry) -> None:
        self.registry = registry
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    async def reload(self, served: ServedModel, trigger: str, version: int | None = None) -> lifecycle.Transition:
        """Roll ``served`` to ``version`` (default: the store's highest); ``VersionRefusedError`` if refused."""
        async with self._lock:
            return await asyncio.to_thread(lifecycle.reload, self.registry, served, trigger, version)

    async def unload(self, served: ServedModel, version: int, trigger: str) -> lifecycle.Transition:
        async with self._lock:
            return await asyncio.to_thread(lifecycle.unload, self.registry, served, version, trigger)

    async def set_traffic(
        self, served: ServedModel, weights: dict[int, int] | None, shadow: int | None, sticky: bool
    ) -> None:
        async with self._lock:
            await asyncio.to_thread(lifecycle.set_traffic, self.registry, served, weights, shadow, sticky)

    async def reload_all(self, trigger: str) -> None:
        """Every model not pinned to a version by TINYSERVE_MODELS moves to the store's highest version;
        polling skips a version already refused (SIGHUP and the admin call try it again)."""
        for served in list(self.registry.models.values()):
            if served.pinned_version is not None:
                continue
            if trigger == "poll" and not self._has_new_version(served):
                continue
            with suppress(lifecycle.VersionRefusedError):  # recorded; the current version keeps serving
                await self.reload(served, trigger)

    def _has_new_version(self, served: ServedModel) -> bool:
        try:
            versions = self.registry.store.versions(served.name)
        except ArtifactError:
            return False
        if not versions or versions[-1] in served.refused:
            return False
        return served.current is None or versions[-1] > served.current.version

    def spawn(self, trigger: str) -> None:
        task = asyncio.get_running_loop().create_task(self._reload_all_once_started(trigger))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reload_all_once_started(self, trigger: str) -> None:
        """A signal during start-up is answered once the models have loaded: it may name a version that
        appeared after start-up looked at the store."""
        while not self.registry.loaded.is_set():
            await asyncio.sleep(0.05)
        await self.reload_all(trigger)

    def install_sighup(self) -> bool:
        """SIGHUP reloads every model (uvicorn leaves SIGHUP alone in a worker, where its default is to exit)."""
        try:
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.spawn, "sighup")
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no SIGHUP here
            return False
        return True

    def remove_sighup(self) -> None:
        with suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)

    async def poll(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.reload_all("poll")
            except Exception:  # a poll must never end polling
                logger.exception("polling the model store failed")

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
