"""What every actor shell shares: the runtime (or, for pure actors, logging alone), a heartbeat
answer, and (for async actors) one worker thread for the blocking service calls."""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import ray

from actors.runtime import ActorRuntime, boot, describe
from agent.clock import wall_time_s
from agent.config import AgentSettings
from agent.logging import configure_logging

T = TypeVar("T")

HEAVY_LIBRARIES = ("numba", "sqlalchemy", "alembic", "pandas", "scipy", "alpaca")
"""Libraries that cost a process tens of MiB: a heartbeat says which this one has loaded."""


class Shell:
    """Base of the actor shells: boots the runtime and answers heartbeats."""

    runtime: ActorRuntime  # unset in a pure actor

    def _boot(self, settings: AgentSettings, component: str) -> ActorRuntime:
        self.runtime = boot(settings, component)
        self._identity = self.runtime.describe()
        self.calls = 0
        self.errors = 0
        return self.runtime

    def _boot_pure(self, settings: AgentSettings, component: str) -> None:
        """Logging only, for a pure actor (a scanner): no store, no clock, so the process
        loads no database driver."""
        configure_logging(settings, component=component)
        self._identity = describe(component, settings)
        self.calls = 0
        self.errors = 0

    def _ping(self) -> dict[str, Any]:
        context = ray.get_runtime_context()
        answer = {
            **self._identity,
            "node_id": context.get_node_id(),
            "wall_s": wall_time_s(),
            "calls": self.calls,
            "errors": self.errors,
            "libraries": [name for name in HEAVY_LIBRARIES if name in sys.modules],
        }
        runtime: ActorRuntime | None = getattr(self, "runtime", None)
        if runtime is not None:
            answer["sim_now"] = runtime.clock.now().isoformat()
        return answer


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
