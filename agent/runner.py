"""The timed loops: run the engine's cycles when the schedule says, against any clock.

:class:`LoopRunner` is what the Ray ``Supervisor`` actor wraps (and what an in-process run
uses). Each loop computes its next due time from the :class:`Schedule`, waits the wall time
the clock says, runs its step, and records latency, last success and errors. A loop never
overlaps itself: each loop is a single task, so a slow cycle delays the next and the runs it
missed are collapsed into one (and counted as skipped). One failing step never kills a loop.
"""

from __future__ import annotations

import asyncio
import time as _time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from agent.calendar import ET
from agent.clock import Clock
from agent.engine import Engine
from agent.logging import logger
from agent.schedule import Loop, Schedule

HEALTH_KEY = "supervisor.health"
"""State key of the latest loop-health document (read by ``optagent status``)."""
MAX_SLEEP_SLICE_S = 1.0
"""Wake at least this often to notice a stop request."""


@dataclass(slots=True)
class LoopHealth:
    """Per-loop figures for the heartbeat and the dashboard (latency in wall seconds)."""

    runs: int = 0
    errors: int = 0
    skipped: int = 0
    last_run_for: datetime | None = None
    """The scheduled time of the last run."""
    last_success_at: datetime | None = None
    last_error: str | None = None
    last_latency_s: float = 0.0
    max_latency_s: float = 0.0
    lag_s: float = 0.0
    """How late (clock time) the last run started after its scheduled time."""

    def as_dict(self) -> dict[str, object]:
        return {
            "runs": self.runs,
            "errors": self.errors,
            "skipped": self.skipped,
            "last_run_for": self.last_run_for.isoformat() if self.last_run_for else None,
            "last_success_at": self.last_success_at.isoformat() if self.last_success_at else None,
            "last_error": self.last_error,
            "last_latency_s": round(self.last_latency_s, 4),
            "max_latency_s": round(self.max_latency_s, 4),
            "lag_s": round(self.lag_s, 3),
        }


@dataclass(slots=True)
class RunSummary:
    started_at: datetime
    stopped_at: datetime | None = None
    sessions: list[date] = field(default_factory=list)
    scans: int = 0
    opened: int = 0
    health: dict[str, LoopHealth] = field(default_factory=dict)


StepHook = Callable[[Loop, datetime], Awaitable[None]]


class LoopRunner:
    """Runs the loops of a :class:`Schedule` over an :class:`Engine`."""

    def __init__(
        self,
        *,
        engine: Engine,
        schedule: Schedule,
        clock: Clock,
        symbols: Sequence[str],
        loops: Sequence[Loop] = tuple(Loop),
        after_step: StepHook | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.engine = engine
        self.schedule = schedule
        self.clock = clock
        self.symbols = list(symbols)
        self.loops = list(loops)
        self.after_step = after_step
        self._sleep = sleep
        self.health: dict[Loop, LoopHealth] = {loop: LoopHealth() for loop in self.loops}
        self.summary = RunSummary(
            started_at=clock.now(), health={k.value: v for k, v in self.health.items()}
        )
        self._stop = asyncio.Event()
        self._stop_at: datetime | None = None

    # ------------------------------------------------------------------ control

    def stop(self) -> None:
        self._stop.set()

    def stop_at(self, at: datetime) -> None:
        """Stop once the clock passes ``at`` (the loops finish their current step)."""
        self._stop_at = at

    @property
    def stopping(self) -> bool:
        return self._stop.is_set() or (
            self._stop_at is not None and self.clock.now() >= self._stop_at
        )

    # ------------------------------------------------------------------ steps

    async def run_step(self, loop: Loop, scheduled_for: datetime) -> None:
        """Run one step of ``loop`` for its scheduled time, recording health; never raises."""
        health = self.health[loop]
        started = _time.perf_counter()
        health.lag_s = max(0.0, (self.clock.now() - scheduled_for).total_seconds())
        try:
            if loop is Loop.SCAN:
                report = await self.engine.scan_cycle(self.symbols, scheduled_for)
                self.summary.scans += 1
                self.summary.opened += len(report.opened)
            elif loop is Loop.MONITOR:
                await self.engine.monitor_cycle()
            elif loop is Loop.RECONCILE:
                await self.engine.reconcile()
            elif loop is Loop.EOD_CLEANUP:
                await self.engine.end_of_day()
            elif loop is Loop.DAILY_ANALYSIS:
                await self.engine.daily_analysis(scheduled_for.astimezone(ET).date())
                self.summary.sessions.append(scheduled_for.astimezone(ET).date())
            elif loop is Loop.WEEKLY_LEARNING:
                await self.engine.weekly_learning(scheduled_for.astimezone(ET).date())
            health.last_success_at = self.clock.now()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            health.errors += 1
            health.last_error = f"{type(exc).__name__}: {exc}"
            logger.exception("{} step for {} failed", loop.value, scheduled_for)
        finally:
            health.runs += 1
            health.last_run_for = scheduled_for
            health.last_latency_s = _time.perf_counter() - started
            health.max_latency_s = max(health.max_latency_s, health.last_latency_s)
        if self.after_step is not None:
            await self.after_step(loop, scheduled_for)

    async def _wait_until(self, target: datetime) -> bool:
        """Sleep (in slices) until the clock reaches ``target``; False if stopping."""
        while not self.stopping:
            remaining = self.clock.real_seconds_until(target)
            if remaining <= 0 and self.clock.now() >= target:
                return True
            await self._sleep(min(max(remaining, 0.001), MAX_SLEEP_SLICE_S))
        return False

    async def run_loop(self, loop: Loop) -> None:
        """Run ``loop`` on schedule. Interval loops skip (and count) the runs that fell due
        while the previous step was still running; fixed-time jobs (end of day, daily
        analysis, weekly learning) run late rather than not at all."""
        health = self.health[loop]
        interval = self.schedule.specs[loop].interval is not None
        if loop is Loop.RECONCILE:
            # Reconcile at start-up, before anything else trusts the book.
            await self.run_step(loop, self.clock.now())
        last = self.schedule.latest_run(loop, self.clock.now())
        while not self.stopping:
            due = self.schedule.due(loop, last_run=last, now=self.clock.now())
            if due is None:
                if not await self._wait_until(self.schedule.next_run(loop, self.clock.now())):
                    return
                continue
            await self.run_step(loop, due)
            last = due
            if interval:
                caught_up = self.schedule.latest_run(loop, self.clock.now())
                if caught_up is not None and caught_up > last:
                    missed = self._count_runs(loop, last, caught_up)
                    health.skipped += missed
                    logger.warning(
                        "{}: skipped {} run(s) while a step was slow", loop.value, missed
                    )
                    last = caught_up

    def _count_runs(self, loop: Loop, after: datetime, until: datetime) -> int:
        """Scheduled runs in (after, until]."""
        count = 0
        at = self.schedule.next_run(loop, after)
        while at <= until:
            count += 1
            at = self.schedule.next_run(loop, at)
        return count

    async def run(self) -> RunSummary:
        """Run every loop until :meth:`stop` (or the stop time)."""
        tasks = [
            asyncio.create_task(self.run_loop(loop), name=f"loop-{loop.value}")
            for loop in self.loops
        ]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            self.summary.stopped_at = self.clock.now()
        return self.summary

    def health_snapshot(self) -> dict[str, dict[str, object]]:
        return {loop.value: h.as_dict() for loop, h in self.health.items()}

    def health_document(self) -> dict[str, object]:
        """What the heartbeat stores under :data:`HEALTH_KEY`."""
        return {"at": self.clock.now().isoformat(), "loops": self.health_snapshot()}
