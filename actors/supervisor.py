"""The ``Supervisor`` actor: the timed loops (a :class:`LoopRunner` over the :class:`Engine`
with :class:`RayServices`) and the health of the system.

- The loops start in the constructor, so a restarted supervisor resumes them from the clock
  (the runner reconciles first, and the slot it restarts in counts as done: no scan runs
  twice for one scheduled time).
- A heartbeat task pings every actor (30 wall seconds by default), notices restarts (a new
  pid), feeds the ``actor_up``/``actor_restarts`` metrics, and persists a health snapshot in
  the store (state key :data:`HEALTH_KEY`) for ``optagent status`` and for resuming simulated
  time after a whole-process restart. The snapshot is also written after loop steps (at most
  once a wall second).
- ``status()`` and ``stop()`` run in the ``control`` concurrency group, on their own event
  loop, so they answer while a slow cycle runs; ``wait_done()`` is in the ``loop`` group.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import ray

from actors import metrics
from actors.base import Shell
from actors.handles import SystemHandles, unwrap
from actors.options import CONTROL_GROUP, LOOP_GROUP, ActorName, options_for
from actors.services import RayServices
from agent.calendar import ET
from agent.clock import monotonic_s, wall_time_s
from agent.config import AgentSettings
from agent.domain import TradingState
from agent.engine import Engine
from agent.logging import logger
from agent.runner import HEALTH_KEY, LoopRunner
from agent.schedule import Loop

HEARTBEAT_S = 30.0
PING_TIMEOUT_S = 10.0
SNAPSHOT_MIN_INTERVAL_S = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class RunPlan:
    """What one ``optagent run`` asked for (fixed at start: a restart keeps it)."""

    run_id: str
    symbols: tuple[str, ...]
    num_scanners: int
    stop_at: datetime | None = None
    """Clock time after which the loops stop (None: run until stopped)."""
    last_session: date | None = None
    """Stop once the daily analysis of this session has run."""
    heartbeat_s: float = HEARTBEAT_S


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


class SupervisorShell(Shell):
    def __init__(self, settings: AgentSettings, namespace: str, plan: RunPlan) -> None:
        runtime = self._boot(settings, "supervisor")
        self.plan = plan
        self.handles = SystemHandles.lookup(
            namespace, mode=settings.mode, num_scanners=plan.num_scanners
        )
        self.services = RayServices(
            self.handles, settings=settings, store=runtime.store, clock=runtime.clock
        )
        self.engine = Engine(self.services)
        self._wake = asyncio.Event()
        self._stop_requested_at: datetime | None = None
        self.runner = LoopRunner(
            engine=self.engine,
            schedule=runtime.schedule,
            clock=runtime.clock,
            symbols=plan.symbols,
            after_step=self._after_step,
            sleep=self._sleep,
        )
        if plan.stop_at is not None:
            self.runner.stop_at(plan.stop_at)
        self.done = False
        self.final_reconcile: dict[str, Any] | None = None
        self.trading_state: str | None = None
        self.actors: dict[str, dict[str, Any]] = {}
        self._seen_errors: dict[Loop, tuple[int, int]] = {}
        self._snapshot_at = 0.0
        self._loop = asyncio.get_event_loop()
        self._main = self._loop.create_task(self._main_task(), name="supervisor-loops")
        self._beat = self._loop.create_task(self._heartbeat_task(), name="supervisor-heartbeat")
        logger.info(
            "supervisor: run {} with {} symbols, {} scanners, stop at {}",
            plan.run_id,
            len(plan.symbols),
            plan.num_scanners,
            plan.stop_at,
        )

    # ------------------------------------------------------------------ loops

    async def _sleep(self, seconds: float) -> None:
        """The runner's sleep, cut short by a stop (so the loops end within the simulated
        minute the stop came in, not a wall second later)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    def _stop_now(self) -> None:
        if self._stop_requested_at is None:
            self._stop_requested_at = self.runtime.clock.now()
        self.runner.stop()
        self._wake.set()

    async def _main_task(self) -> None:
        try:
            summary = await self.runner.run()
            logger.info(
                "supervisor: loops stopped at {} ({} scans, {} opened, sessions {})",
                summary.stopped_at,
                summary.scans,
                summary.opened,
                [d.isoformat() for d in summary.sessions],
            )
            await self._finish()
            await self.heartbeat()  # the actors' last figures in the final snapshot
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("supervisor: the loop runner failed")
            self.errors += 1
        finally:
            self.done = True
            await self._persist(force=True)

    async def _finish(self) -> None:
        """A last reconcile (fills of the final minutes booked) and an exchange save."""
        try:
            report = await self.engine.reconcile()
            self.final_reconcile = {
                "activities": report.activities,
                "differences": list(report.differences),
                "resolved_unknown": report.resolved_unknown,
            }
        except Exception:
            self.errors += 1
            logger.exception("supervisor: final reconcile failed")
        if self.handles.exchange is not None:
            try:
                await self.handles.exchange.save()
            except Exception:
                self.errors += 1
                logger.exception("supervisor: final exchange save failed")

    async def _after_step(self, loop: Loop, scheduled_for: datetime) -> None:
        self.calls += 1
        health = self.runner.health[loop]
        metrics.observe("loop_latency_s", health.last_latency_s, loop=loop.value)
        metrics.set_gauge("loop_lag_s", health.lag_s, loop=loop.value)
        errors, skipped = self._seen_errors.get(loop, (0, 0))
        metrics.inc("loop_errors", health.errors - errors, loop=loop.value)
        metrics.inc("loop_skipped", health.skipped - skipped, loop=loop.value)
        self._seen_errors[loop] = (health.errors, health.skipped)
        if loop is Loop.SCAN:
            metrics.observe("scan_latency_s", health.last_latency_s)
        if (
            loop is Loop.DAILY_ANALYSIS
            and self.plan.last_session is not None
            and scheduled_for.astimezone(ET).date() >= self.plan.last_session
        ):
            logger.info("supervisor: daily analysis of the last session done; stopping")
            self._stop_now()
        await self._persist(force=loop in (Loop.DAILY_ANALYSIS, Loop.EOD_CLEANUP))

    # ------------------------------------------------------------------ heartbeat

    async def _heartbeat_task(self) -> None:
        while True:
            try:
                await self.heartbeat()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("supervisor: heartbeat failed")
            await asyncio.sleep(self.plan.heartbeat_s)

    async def _ping_one(self, name: str, ref: Any) -> None:
        entry = self.actors.setdefault(name, {"restarts_seen": 0, "failures": 0})
        started = monotonic_s()
        try:
            info = await asyncio.wait_for(ref, PING_TIMEOUT_S)
        except asyncio.CancelledError:
            raise
        except BaseException as raw:
            exc = unwrap(raw)
            entry.update(up=False, error=f"{type(exc).__name__}: {exc}")
            entry["failures"] += 1
            metrics.set_gauge("actor_up", 0, actor=name)
            return
        pid = info.get("pid")
        if entry.get("pid") not in (None, pid):
            entry["restarts_seen"] += 1
            metrics.inc("actor_restarts", actor=name)
            logger.warning("supervisor: {} restarted (pid {} -> {})", name, entry["pid"], pid)
        entry.update(
            up=True,
            error=None,
            pid=pid,
            node_id=info.get("node_id"),
            latency_ms=round((monotonic_s() - started) * 1000.0, 2),
            calls=info.get("calls"),
            errors=info.get("errors"),
            libraries=info.get("libraries"),
            last_seen_wall_s=wall_time_s(),
        )
        metrics.set_gauge("actor_up", 1, actor=name)

    async def heartbeat(self) -> dict[str, dict[str, Any]]:
        """Ping every actor now and persist the health snapshot."""
        pings = self.handles.pings()
        await asyncio.gather(*(self._ping_one(name, ref) for name, ref in pings.items()))
        try:
            state: TradingState = await asyncio.wait_for(
                self.handles.risk.trading_state(), PING_TIMEOUT_S
            )
            self.trading_state = state.value
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            logger.warning("supervisor: trading state unavailable: {}", unwrap(exc))
        await self._persist(force=True)
        return self.actors

    # ------------------------------------------------------------------ snapshot

    def _snapshot(self) -> dict[str, Any]:
        summary = self.runner.summary
        # Once stopped, "now" (where a later run resumes) is when the stop was asked for or
        # the stop time passed: the clock runs on while the last steps finish.
        now = self.runtime.clock.now()
        if self.done and summary.stopped_at is not None:
            ends = [summary.stopped_at, self._stop_requested_at, self.plan.stop_at]
            now = min(t for t in ends if t is not None)
        return {
            **self.runner.health_document(),
            "at": now.isoformat(),
            "run_id": self.plan.run_id,
            "at_wall_s": wall_time_s(),
            "sim_now": now.isoformat(),
            "started_at": summary.started_at.isoformat(),
            "stopped_at": summary.stopped_at.isoformat() if summary.stopped_at else None,
            "mode": self.runtime.settings.mode.value,
            "done": self.done,
            "stop_at": self.plan.stop_at.isoformat() if self.plan.stop_at else None,
            "trading_state": self.trading_state,
            "scans": summary.scans,
            "opened": summary.opened,
            "sessions": [d.isoformat() for d in summary.sessions],
            "actors": {name: dict(entry) for name, entry in list(self.actors.items())},
            "supervisor": {"pid": self.runtime.pid, "errors": self.errors},
            "final_reconcile": self.final_reconcile,
        }

    async def _persist(self, *, force: bool = False) -> None:
        now = monotonic_s()
        if not force and now - self._snapshot_at < SNAPSHOT_MIN_INTERVAL_S:
            return
        self._snapshot_at = now
        snapshot = self._snapshot()

        def write() -> None:
            with self.runtime.store.transaction() as tx:
                tx.state.put(HEALTH_KEY, snapshot)

        try:
            await asyncio.to_thread(write)
        except Exception:
            logger.exception("supervisor: health snapshot not written")

    # ------------------------------------------------------------------ control

    @ray.method(concurrency_group=CONTROL_GROUP)
    async def status(self) -> dict[str, Any]:
        return self._snapshot()

    @ray.method(concurrency_group=CONTROL_GROUP)
    async def stop(self) -> bool:
        """Ask the loops to stop after their current step (the final reconcile follows)."""
        self._loop.call_soon_threadsafe(self._stop_now)
        return True

    @ray.method(concurrency_group=CONTROL_GROUP)
    async def ping(self) -> dict[str, Any]:
        return {**self._ping(), "done": self.done}

    @ray.method(concurrency_group=LOOP_GROUP)
    async def wait_done(self, timeout_s: float) -> bool:
        """True once the loops have stopped and the final reconcile ran (polls, bounded)."""
        deadline = monotonic_s() + timeout_s
        while not self.done and monotonic_s() < deadline:
            await asyncio.sleep(0.2)
        return self.done

    @ray.method(concurrency_group=LOOP_GROUP)
    async def heartbeat_now(self) -> dict[str, dict[str, Any]]:
        """Run a heartbeat now (from the loop group's event loop) and return actor health."""
        future = asyncio.run_coroutine_threadsafe(self.heartbeat(), self._loop)
        return await asyncio.wrap_future(future)


SupervisorActor = ray.remote(**options_for(ActorName.SUPERVISOR).class_options())(SupervisorShell)
