"""The decision loop, one code path for every runtime.

:class:`Engine` runs the cycles (scan, monitor, reconcile, end-of-day, daily analysis,
weekly learning) against a :class:`Services` facade. In-process runs (``optagent scan
--once``, the backtest) use :class:`agent.factories.LocalServices`; the Ray system's
supervisor uses typed actor handles that implement the same async protocol. The engine holds
no state that matters: everything it decides is written by the services.
"""

from __future__ import annotations

import time as _time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

from agent.calendar import ET
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
from agent.logging import journal, logger


class Services(Protocol):
    """Async facade over the services (local objects or Ray actors)."""

    async def scan(self, symbols: Sequence[str], scan_id: str) -> list[SymbolScan]:
        """Scan every symbol (fanned out); symbols without data yield a rejection record."""
        ...

    async def record_decisions(self, records: Sequence[DecisionRecord]) -> None: ...

    async def record_atm_ivs(self, scans: Sequence[SymbolScan]) -> None: ...

    async def rank(
        self, scans: Sequence[SymbolScan]
    ) -> tuple[list[Candidate], list[DecisionRecord]]: ...

    async def account(self) -> AccountSnapshot: ...

    async def evaluate(self, candidate: Candidate, account: AccountSnapshot) -> RiskDecision: ...

    async def trading_state(self) -> TradingState: ...

    async def flatten_requested(self) -> bool: ...

    async def update_risk(
        self, account: AccountSnapshot, marks: Sequence[TradeMark], data_age_s: float | None
    ) -> TradingState: ...

    async def open_trade(self, candidate: Candidate, decision: RiskDecision) -> str | None: ...

    async def close_trade(self, action: ExitAction) -> str | None: ...

    async def roll_trade(self, roll: RollAction, decision: RiskDecision) -> str | None: ...

    async def submit_single_leg(self, action: SingleLegAction) -> str | None: ...

    async def flatten(self) -> int: ...

    async def work_orders(self) -> WorkReport: ...

    async def reconcile(self) -> ReconcileReport: ...

    async def end_of_day(self) -> None: ...

    async def monitor(self, state: TradingState) -> MonitorReport: ...

    async def data_age_s(self) -> float | None: ...

    async def daily_analysis(self, day: date) -> None: ...

    async def weekly_learning(self, day: date) -> None: ...


@dataclass(slots=True, kw_only=True)
class ScanReport:
    scan_id: str
    at: datetime
    symbols: int = 0
    candidates: int = 0
    selected: list[Candidate] = field(default_factory=list)
    decisions: list[RiskDecision] = field(default_factory=list)
    opened: list[str] = field(default_factory=list)
    rejected_symbols: int = 0
    elapsed_s: float = 0.0
    state: TradingState = TradingState.ACTIVE
    scans: list[SymbolScan] = field(default_factory=list)


def journal_decisions(records: Sequence[DecisionRecord]) -> None:
    for record in records:
        journal(
            "decision",
            decision_id=record.decision_id,
            scan_id=record.scan_id,
            underlying=record.underlying,
            stage=record.stage,
            outcome=record.outcome,
            strategy=record.strategy,
            candidate_id=record.candidate_id,
            failed=[r.rule for r in record.failed_reasons],
        )


def new_scan_id(at: datetime) -> str:
    return f"{at.astimezone(ET):%Y%m%dT%H%M}-{uuid.uuid4().hex[:8]}"


class Engine:
    """The cycles of DESIGN.md section 3, in order, against a :class:`Services` facade."""

    def __init__(self, services: Services) -> None:
        self.services = services

    async def scan_cycle(
        self, symbols: Sequence[str], at: datetime, *, submit: bool = True, evaluate: bool = True
    ) -> ScanReport:
        """Scan → rank → risk → execution, every decision recorded.

        ``submit=False`` stops before execution (risk still judges and records);
        ``evaluate=False`` stops after ranking (``optagent scan --dry-run``). The
        ``dry_run`` setting is execution's: intents recorded, nothing sent."""
        started = _time.perf_counter()
        report = ScanReport(scan_id=new_scan_id(at), at=at, symbols=len(symbols))
        scans = await self.services.scan(symbols, report.scan_id)
        report.scans = scans
        await self.services.record_decisions([d for s in scans for d in s.decisions])
        await self.services.record_atm_ivs(scans)
        report.candidates = sum(len(s.candidates) for s in scans)
        report.rejected_symbols = sum(1 for s in scans if s.contracts == 0 and not s.candidates)
        selected, ranking_records = await self.services.rank(scans)
        await self.services.record_decisions(ranking_records)
        report.selected = selected
        report.state = await self.services.trading_state()
        if not selected or not evaluate:
            report.elapsed_s = _time.perf_counter() - started
            return report
        account = await self.services.account()
        for candidate in selected:
            decision = await self.services.evaluate(candidate, account)
            report.decisions.append(decision)
            if not decision.approved or not submit:
                continue
            trade_id = await self.services.open_trade(candidate, decision)
            if trade_id is not None:
                report.opened.append(trade_id)
        report.elapsed_s = _time.perf_counter() - started
        logger.info(
            "scan {}: {} symbols, {} candidates, {} selected, {} approved, {} opened in {:.2f}s",
            report.scan_id,
            report.symbols,
            report.candidates,
            len(selected),
            sum(d.approved for d in report.decisions),
            len(report.opened),
            report.elapsed_s,
        )
        return report

    async def monitor_cycle(self) -> MonitorReport:
        """Work orders, mark positions, feed risk, then exits and rolls (risk-checked)."""
        await self.services.work_orders()
        state = await self.services.trading_state()
        report = await self.services.monitor(state)
        account = await self.services.account()
        state = await self.services.update_risk(
            account, report.marks, await self.services.data_age_s()
        )
        if await self.services.flatten_requested():
            closed = await self.services.flatten()
            logger.warning("flatten requested: {} trades sent to close", closed)
            return report
        for action in report.exits:
            await self.services.close_trade(action)
        for single in report.single_legs:
            # Assigned-stock handling only reduces or caps risk (sell shares, covered call).
            await self.services.submit_single_leg(single)
        for roll in report.rolls:
            decision = await self.services.evaluate(roll.candidate, account)
            if decision.approved:
                await self.services.roll_trade(roll, decision)
            else:
                # A roll risk will not take is a close.
                await self.services.close_trade(
                    ExitAction(
                        trade_id=roll.trade_id,
                        reason=roll.reason,
                        detail=f"roll denied by risk: {decision.summary()}",
                    )
                )
        return report

    async def reconcile(self) -> ReconcileReport:
        return await self.services.reconcile()

    async def end_of_day(self) -> None:
        await self.services.end_of_day()

    async def daily_analysis(self, day: date) -> None:
        await self.services.daily_analysis(day)

    async def weekly_learning(self, day: date) -> None:
        await self.services.weekly_learning(day)
