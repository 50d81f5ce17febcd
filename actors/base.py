"""What every actor shell shares: the runtime, a heartbeat answer, and (for async actors) one
worker thread for the blocking service calls."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import ray

from actors.runtime import ActorRuntime, boot
from agent.clock import wall_time_s
from agent.config import AgentSettings

T = TypeVar("T")


class Shell:
    """Base of the actor shells: boots the runtime and answers heartbeats."""

    runtime: ActorRuntime

    def _boot(self, settings: AgentSettings, component: str) -> ActorRuntime:
        self.runtime = boot(settings, component)
        self.calls = 0
        self.errors = 0
        return self.runtime

    def _ping(self) -> dict[str, Any]:
        context = ray.get_runtime_context()
        return {
            **self.runtime.describe(),
            "node_id": context.get_node_id(),
            "wall_s": wall_time_s(),
            "sim_now": self.runtime.clock.now().isoformat(),
            "calls": self.calls,
            "errors": self.errors,
        }


class AsyncShell(Shell):
    """An asyncio actor whose service runs on one worker thread: the event loop stays free
    (heartbeats answer while a pass runs) and the service is never called concurrently."""

    def _start_worker(self, name: str) -> None:
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    async def _off(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        self.calls += 1
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._worker, functools.partial(fn, *args, **kwargs))
        except Exception:
            self.errors += 1
            raise
