"""The loop runner against an accelerated clock driven by a fake wall clock."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta

from agent.calendar import et_datetime, market_calendar
from agent.clock import AcceleratedClock
from agent.config import ScheduleSettings
from agent.domain import (
    AccountSnapshot,
    Candidate,
    DecisionRecord,
    ExitAction,
    MonitorReport,
    ReconcileReport,
    RiskDecision,
    RollAction,
    SingleLegAction,
    SymbolScan,
    TradeMark,
    TradingState,
    WorkReport,
)
from agent.engine import Engine
from agent.runner import LoopRunner
from agent.schedule import Loop, Schedule


class RecordingServices:
    """Records which cycle ran at which simulated time (the services are not under test)."""

    def __init__(
        self, clock: AcceleratedClock, wall: list[float], *, scan_cost_s: float = 0.0
    ) -> None:
        self.clock = clock
        self.wall = wall
        self.scan_cost_s = scan_cost_s
        self.calls: list[tuple[str, datetime]] = []

    def _record(self, name: str) -> None:
        self.calls.append((name, self.clock.now()))

    async def scan(self, symbols: Sequence[str], scan_id: str) -> list[SymbolScan]:
        self._record("scan")
        self.wall[0] += self.scan_cost_s  # a slow scan burns wall time
        return []

    async def record_decisions(self, records: Sequence[DecisionRecord]) -> None:
        return None

    async def record_atm_ivs(self, scans: Sequence[SymbolScan]) -> None:
        return None

    async def rank(
        self, scans: Sequence[SymbolScan]
    ) -> tuple[list[Candidate], list[DecisionRecord]]:
        return [], []

    async def account(self) -> AccountSnapshot:
        raise AssertionError("not needed")

    async def evaluate(self, candidate: Candidate, account: AccountSnapshot) -> RiskDecision:
        raise AssertionError("not needed")

    async def trading_state(self) -> TradingState:
        return TradingState.ACTIVE

    async def flatten_requested(self) -> bool:
        return False

    async def update_risk(
        self, account: AccountSnapshot, marks: Sequence[TradeMark], data_age_s: float | None
    ) -> TradingState:
        return TradingState.ACTIVE

    async def open_trade(self, candidate: Candidate, decision: RiskDecision) -> str | None:
        return None

    async def close_trade(self, action: ExitAction) -> str | None:
        return None

    async def roll_trade(self, roll: RollAction, decision: RiskDecision) -> str | None:
        return None

    async def flatten(self) -> int:
        return 0

    async def submit_single_leg(self, action: SingleLegAction) -> str | None:
        return None

    async def work_orders(self) -> WorkReport:
        self._record("work")
        return WorkReport()

    async def reconcile(self) -> ReconcileReport:
        self._record("reconcile")
        return ReconcileReport()

    async def end_of_day(self) -> None:
        self._record("eod")

    async def monitor(self, state: TradingState) -> MonitorReport:
        return MonitorReport()

    async def data_age_s(self) -> float | None:
        return 0.0

    async def daily_analysis(self, day: date) -> None:
        self._record("daily")

    async def weekly_learning(self, day: date) -> None:
        self._record("weekly")


class MonitorAccount(RecordingServices):
    async def account(self) -> AccountSnapshot:
        from decimal import Decimal

        return AccountSnapshot(
            equity=Decimal(1), cash=Decimal(1), buying_power=Decimal(1), options_buying_power=Decimal(1),
            last_equity=Decimal(1), options_level=3, as_of=self.clock.now(),
        )  # fmt: skip


def make(
    start: datetime, *, scan_cost_s: float = 0.0
) -> tuple[LoopRunner, MonitorAccount, list[float]]:
    schedule = Schedule(ScheduleSettings(), market_calendar())
    wall = [0.0]
    clock = AcceleratedClock(
        anchor_sim=start,
        anchor_wall_s=0.0,
        speed=600.0,
        windows=schedule.active_window,
        wall_clock=lambda: wall[0],
    )
    services = MonitorAccount(clock, wall, scan_cost_s=scan_cost_s)

    waiters: list[float] = []

    async def virtual_sleep(seconds: float) -> None:
        """Virtual wall time: the sleeper with the earliest wake-up moves the clock forward,
        so concurrent loops share one timeline as they would with real sleeps."""
        target = wall[0] + seconds
        waiters.append(target)
        try:
            while wall[0] < target:
                await asyncio.sleep(0)
                if wall[0] < target <= min(waiters):
                    wall[0] = target
        finally:
            waiters.remove(target)

    runner = LoopRunner(
        engine=Engine(services),
        schedule=schedule,
        clock=clock,
        symbols=["SPY"],
        sleep=virtual_sleep,
    )
    return runner, services, wall


def test_a_friday_runs_every_loop_at_its_times_and_skips_the_weekend() -> None:
    friday = date(2026, 3, 6)
    runner, services, _ = make(et_datetime(friday, time(9, 25)))
    runner.stop_at(et_datetime(date(2026, 3, 9), time(9, 31)))
    summary = asyncio.run(runner.run())
    times = {
        name: [at for n, at in services.calls if n == name]
        for name in ("scan", "eod", "daily", "weekly")
    }
    assert len(times["scan"]) == 78 + 1  # the whole Friday session plus Monday 09:30
    assert times["scan"][0] == et_datetime(friday, time(9, 30))
    assert times["eod"] == [et_datetime(friday, time(15, 55))]
    assert times["daily"] == [et_datetime(friday, time(17, 0))]
    assert times["weekly"] == [et_datetime(date(2026, 3, 8), time(20, 0))]
    assert summary.scans == 79 and runner.health[Loop.SCAN].errors == 0
    work = [at for n, at in services.calls if n == "work"]
    assert len(work) == 390 + 1 and all(w.weekday() < 5 for w in work)


def test_a_slow_scan_never_overlaps_itself_and_missed_runs_are_counted() -> None:
    day = date(2026, 3, 9)
    # Each scan costs 1.2 wall seconds = 12 simulated minutes at 600x: two runs are missed each time.
    runner, services, _ = make(et_datetime(day, time(9, 25)), scan_cost_s=1.2)
    runner.loops = [Loop.SCAN]
    runner.health = {Loop.SCAN: runner.health[Loop.SCAN]}
    runner.stop_at(et_datetime(day, time(11, 0)))
    asyncio.run(runner.run())
    scans = [at for n, at in services.calls if n == "scan"]
    assert all((b - a) >= timedelta(minutes=12) for a, b in itertools.pairwise(scans))
    assert runner.health[Loop.SCAN].skipped >= 10
