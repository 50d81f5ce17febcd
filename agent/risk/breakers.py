"""Breakers and the trading state: pure transitions over the ``risk.state`` document.

The trading state is the most severe state among the active breakers (HALTED > REDUCING >
ACTIVE). Each breaker records why it tripped, when, and how it clears:

=====================  ==============================================  =========  ============================================
breaker                trigger                                         state      clears
=====================  ==============================================  =========  ============================================
``manual``             ``halt()`` / ``optagent halt``                   HALTED     ``resume()``
``flatten``            ``request_flatten()`` (also sets the flag)       HALTED     ``resume()`` (``clear_flatten()`` only
                                                                                  drops the flag)
``kill_switch``        ``risk.kill_switch_file`` exists                 HALTED     by itself when the file is removed
``daily_loss``         last_equity − equity ≥ ``max_daily_loss_pct``    HALTED     by itself at the next session's open
                       of last_equity                                             (or ``resume()``; re-trips if still past)
``drawdown``           (peak − equity) / peak ≥ ``max_drawdown_pct``    HALTED     ``resume()`` (the peak restarts from equity)
``broker_errors``      broker errors today ≥                            HALTED     ``resume()`` (errors count from then)
                       ``max_broker_errors_per_day``
``auth_failure``       the broker refused our credentials               HALTED     ``resume()``
``consecutive_losses`` the last ``max_consecutive_losses`` closed       REDUCING   ``resume()`` (the streak restarts)
                       trades all lost
``stale_data``         market open and data older than                 REDUCING   by itself when data is fresh again or the
                       ``max_market_data_age_s``                                  market closes
=====================  ==============================================  =========  ============================================

Operations here never touch the store: they take a :class:`Control` and return a new one;
:func:`settle` recomputes the trading state and lists the :class:`Change` records (events and
alerts) that the service writes in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from agent.config import RiskSettings
from agent.domain import AccountSnapshot, AlertLevel, Trade, TradingState
from agent.risk.codec import (
    decode_datetime,
    decode_decimal,
    encode_datetime,
    encode_decimal,
)
from agent.risk.rules import pct_of, start_of_day_equity

__all__ = [
    "BREAKERS",
    "Breaker",
    "BreakerName",
    "BreakerSpec",
    "Change",
    "ClearRule",
    "Control",
    "LossStreak",
    "Readings",
    "apply_readings",
    "clear",
    "refresh",
    "resume",
    "settle",
    "trip",
]

_SEVERITY = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}
STREAK_LOOKBACK = timedelta(days=1)
"""Closed trades are re-read this far behind the streak cursor, for late-recorded closes."""


class BreakerName(StrEnum):
    MANUAL = "manual"
    FLATTEN = "flatten"
    KILL_SWITCH = "kill_switch"
    DAILY_LOSS = "daily_loss"
    DRAWDOWN = "drawdown"
    BROKER_ERRORS = "broker_errors"
    AUTH_FAILURE = "auth_failure"
    CONSECUTIVE_LOSSES = "consecutive_losses"
    STALE_DATA = "stale_data"


class ClearRule(StrEnum):
    MANUAL = "manual"
    """Only ``resume()``."""
    NEXT_SESSION = "next_session"
    """By itself at ``clear_at`` (the next session's open), or ``resume()``."""
    CONDITION = "condition"
    """By itself as soon as the condition is gone."""


@dataclass(frozen=True, slots=True)
class BreakerSpec:
    state: TradingState
    clears: ClearRule


BREAKERS: Mapping[BreakerName, BreakerSpec] = {
    BreakerName.MANUAL: BreakerSpec(TradingState.HALTED, ClearRule.MANUAL),
    BreakerName.FLATTEN: BreakerSpec(TradingState.HALTED, ClearRule.MANUAL),
    BreakerName.KILL_SWITCH: BreakerSpec(TradingState.HALTED, ClearRule.CONDITION),
    BreakerName.DAILY_LOSS: BreakerSpec(TradingState.HALTED, ClearRule.NEXT_SESSION),
    BreakerName.DRAWDOWN: BreakerSpec(TradingState.HALTED, ClearRule.MANUAL),
    BreakerName.BROKER_ERRORS: BreakerSpec(TradingState.HALTED, ClearRule.MANUAL),
    BreakerName.AUTH_FAILURE: BreakerSpec(TradingState.HALTED, ClearRule.MANUAL),
    BreakerName.CONSECUTIVE_LOSSES: BreakerSpec(TradingState.REDUCING, ClearRule.MANUAL),
    BreakerName.STALE_DATA: BreakerSpec(TradingState.REDUCING, ClearRule.CONDITION),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Breaker:
    """An active breaker: why (``reason``, ``value`` against ``limit``), since when, and how
    it clears (``clear_at`` for NEXT_SESSION)."""

    name: BreakerName
    reason: str
    tripped_at: datetime
    clear_at: datetime | None = None
    value: float | None = None
    limit: float | None = None

    @property
    def state(self) -> TradingState:
        return BREAKERS[self.name].state

    @property
    def clears(self) -> ClearRule:
        return BREAKERS[self.name].clears

    def encode(self) -> dict[str, Any]:
        return {
            "name": self.name.value,
            "reason": self.reason,
            "tripped_at": encode_datetime(self.tripped_at),
            "clear_at": None if self.clear_at is None else encode_datetime(self.clear_at),
            "value": self.value,
            "limit": self.limit,
        }

    @classmethod
    def decode(cls, document: Mapping[str, Any]) -> Breaker:
        clear_at = document.get("clear_at")
        return cls(
            name=BreakerName(document["name"]),
            reason=str(document["reason"]),
            tripped_at=decode_datetime(document["tripped_at"]),
            clear_at=None if clear_at is None else decode_datetime(clear_at),
            value=document.get("value"),
            limit=document.get("limit"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class LossStreak:
    """Consecutive losing closed trades, counted incrementally.

    ``counted`` maps the ids of trades already counted (closed within ``STREAK_LOOKBACK`` of
    the newest one) to their ``closed_at``, so a trade is never counted twice and a close
    recorded late (reconciliation) is still counted once.
    """

    count: int = 0
    counted: Mapping[str, datetime] = field(default_factory=dict)

    @property
    def cursor_at(self) -> datetime | None:
        return max(self.counted.values()) if self.counted else None

    def read_since(self) -> datetime | None:
        """Closed trades from this time on may still be uncounted."""
        cursor = self.cursor_at
        return None if cursor is None else cursor - STREAK_LOOKBACK

    def advance(self, closed: Sequence[Trade]) -> LossStreak:
        """Count the closed trades not counted yet, oldest close first (a loss extends the
        streak; a win or break-even ends it)."""
        fresh = sorted(
            (t for t in closed if t.closed_at is not None and t.trade_id not in self.counted),
            key=lambda t: (t.closed_at, t.trade_id),
        )
        if not fresh:
            return self
        count = self.count
        counted = dict(self.counted)
        for trade in fresh:
            assert trade.closed_at is not None
            count = count + 1 if trade.realized_pnl < 0 else 0
            counted[trade.trade_id] = trade.closed_at
        newest = max(counted.values())
        counted = {k: v for k, v in counted.items() if v >= newest - STREAK_LOOKBACK}
        return LossStreak(count=count, counted=counted)

    def encode(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "counted": {k: encode_datetime(v) for k, v in sorted(self.counted.items())},
        }

    @classmethod
    def decode(cls, document: Mapping[str, Any] | None) -> LossStreak:
        if not document:
            return cls()
        return cls(
            count=int(document.get("count", 0)),
            counted={str(k): decode_datetime(v) for k, v in document.get("counted", {}).items()},
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Control:
    """The ``risk.state`` document: trading state, breakers, flatten flag and the counters
    the breakers need (peak equity for drawdown, the loss streak, the error-count start)."""

    state: TradingState = TradingState.ACTIVE
    reason: str = ""
    since: datetime
    breakers: tuple[Breaker, ...] = ()
    flatten: bool = False
    flatten_reason: str = ""
    peak_equity_usd: Decimal | None = None
    peak_at: datetime | None = None
    peak_since: datetime | None = None
    """Account snapshots before this do not count toward the peak (a resumed drawdown)."""
    streak: LossStreak = field(default_factory=LossStreak)
    errors_since: datetime | None = None
    """Broker errors before this do not count (a resumed error breaker)."""

    def breaker(self, name: BreakerName) -> Breaker | None:
        return next((b for b in self.breakers if b.name is name), None)

    def effective(self) -> tuple[TradingState, str]:
        """The most severe breaker state, with the reasons of the breakers at that level."""
        if not self.breakers:
            return TradingState.ACTIVE, ""
        worst = max((b.state for b in self.breakers), key=_SEVERITY.__getitem__)
        reasons = [
            f"{b.name.value}: {b.reason}"
            for b in sorted(self.breakers, key=lambda b: b.tripped_at)
            if b.state is worst
        ]
        return worst, "; ".join(reasons)

    def encode(self) -> dict[str, Any]:
        return {
            "version": 1,
            "state": self.state.value,
            "reason": self.reason,
            "since": encode_datetime(self.since),
            "breakers": [b.encode() for b in self.breakers],
            "flatten": self.flatten,
            "flatten_reason": self.flatten_reason,
            "peak_equity_usd": None
            if self.peak_equity_usd is None
            else encode_decimal(self.peak_equity_usd),
            "peak_at": None if self.peak_at is None else encode_datetime(self.peak_at),
            "peak_since": None if self.peak_since is None else encode_datetime(self.peak_since),
            "streak": self.streak.encode(),
            "errors_since": None
            if self.errors_since is None
            else encode_datetime(self.errors_since),
        }

    @classmethod
    def decode(cls, document: Mapping[str, Any]) -> Control:
        def when(key: str) -> datetime | None:
            value = document.get(key)
            return None if value is None else decode_datetime(value)

        peak = document.get("peak_equity_usd")
        return cls(
            state=TradingState(document["state"]),
            reason=str(document.get("reason", "")),
            since=decode_datetime(document["since"]),
            breakers=tuple(Breaker.decode(b) for b in document.get("breakers", ())),
            flatten=bool(document.get("flatten", False)),
            flatten_reason=str(document.get("flatten_reason", "")),
            peak_equity_usd=None if peak is None else decode_decimal(peak),
            peak_at=when("peak_at"),
            peak_since=when("peak_since"),
            streak=LossStreak.decode(document.get("streak")),
            errors_since=when("errors_since"),
        )


# --------------------------------------------------------------------------- operations


def trip(
    control: Control,
    name: BreakerName,
    *,
    reason: str,
    at: datetime,
    clear_at: datetime | None = None,
    value: float | None = None,
    limit: float | None = None,
) -> Control:
    """Activate a breaker; an already active breaker keeps its first trip (and reason)."""
    if control.breaker(name) is not None:
        return control
    breaker = Breaker(
        name=name, reason=reason, tripped_at=at, clear_at=clear_at, value=value, limit=limit
    )
    return replace(control, breakers=(*control.breakers, breaker))


def clear(control: Control, name: BreakerName) -> Control:
    if control.breaker(name) is None:
        return control
    return replace(control, breakers=tuple(b for b in control.breakers if b.name is not name))


def refresh(control: Control, *, now: datetime, kill_switch_present: bool) -> Control:
    """What every read applies: the kill-switch file, and breakers whose time has come."""
    if kill_switch_present:
        control = trip(
            control,
            BreakerName.KILL_SWITCH,
            reason="kill-switch file present",
            at=now,
        )
    else:
        control = clear(control, BreakerName.KILL_SWITCH)
    for breaker in control.breakers:
        if (
            breaker.clears is ClearRule.NEXT_SESSION
            and breaker.clear_at is not None
            and now >= breaker.clear_at
        ):
            control = clear(control, breaker.name)
    return control


@dataclass(frozen=True, slots=True, kw_only=True)
class Readings:
    """What a monitor cycle observed, for the automatic breakers.

    ``data_age_s`` None means "no reading" and leaves the stale-data breaker as it is.
    ``next_session_open``: when a daily-loss halt clears (the next session's open).
    """

    now: datetime
    account: AccountSnapshot
    market_open: bool
    data_age_s: float | None
    next_session_open: datetime


def apply_readings(control: Control, readings: Readings, settings: RiskSettings) -> Control:
    """Update the peak equity and trip or clear the automatic breakers for ``readings``.

    Worked numbers with the defaults: last_equity $100,000 and equity $95,000 is a $5,000
    loss = 5 % → ``daily_loss`` trips (HALTED until the next open). Peak $120,000 and equity
    $102,000 is a 15 % drawdown → ``drawdown`` trips.
    """
    now, account = readings.now, readings.account
    equity = account.equity

    # Peak equity (drawdown is measured from it).
    if control.peak_equity_usd is None or equity > control.peak_equity_usd:
        control = replace(control, peak_equity_usd=equity, peak_at=now)

    # Daily loss: realised + unrealised since the previous close.
    start = start_of_day_equity(account)
    loss = max(Decimal(0), start - equity)
    limit = pct_of(start, settings.max_daily_loss_pct)
    if start > 0 and loss >= limit:
        control = trip(
            control,
            BreakerName.DAILY_LOSS,
            reason=f"daily loss ${float(loss):,.2f} ≥ {settings.max_daily_loss_pct:g}% of "
            f"${float(start):,.2f} (${float(limit):,.2f})",
            at=now,
            clear_at=readings.next_session_open,
            value=round(float(loss), 2),
            limit=round(float(limit), 2),
        )

    # Drawdown from the peak.
    peak = control.peak_equity_usd
    if peak is not None and peak > 0:
        drawdown_pct = float((peak - equity) / peak * 100)
        if drawdown_pct >= settings.max_drawdown_pct:
            control = trip(
                control,
                BreakerName.DRAWDOWN,
                reason=f"drawdown {drawdown_pct:.2f}% from peak ${float(peak):,.2f} ≥ "
                f"{settings.max_drawdown_pct:g}%",
                at=now,
                value=round(drawdown_pct, 4),
                limit=settings.max_drawdown_pct,
            )

    # Consecutive losses.
    if control.streak.count >= settings.max_consecutive_losses:
        control = trip(
            control,
            BreakerName.CONSECUTIVE_LOSSES,
            reason=f"{control.streak.count} consecutive losing trades ≥ "
            f"{settings.max_consecutive_losses}",
            at=now,
            value=control.streak.count,
            limit=settings.max_consecutive_losses,
        )

    # Stale market data, judged only while the market is open.
    if not readings.market_open:
        control = clear(control, BreakerName.STALE_DATA)
    elif readings.data_age_s is not None:
        if readings.data_age_s > settings.max_market_data_age_s:
            control = trip(
                control,
                BreakerName.STALE_DATA,
                reason=f"market data {readings.data_age_s:,.0f}s old > "
                f"{settings.max_market_data_age_s:g}s",
                at=now,
                value=round(readings.data_age_s, 1),
                limit=settings.max_market_data_age_s,
            )
        else:
            control = clear(control, BreakerName.STALE_DATA)
    return control


def resume(
    control: Control,
    *,
    now: datetime,
    kill_switch_present: bool,
    equity: Decimal | None,
) -> Control:
    """Clear every breaker (the kill switch stays while its file exists) and the flatten
    flag, acknowledging what was cleared: a drawdown restarts its peak from ``equity``, a
    loss streak restarts at zero, broker errors count from ``now``."""
    resumed = replace(control, breakers=(), flatten=False, flatten_reason="")
    if control.breaker(BreakerName.DRAWDOWN) is not None:
        resumed = replace(
            resumed,
            peak_equity_usd=equity,
            peak_at=None if equity is None else now,
            peak_since=now,
        )
    if control.breaker(BreakerName.CONSECUTIVE_LOSSES) is not None:
        resumed = replace(resumed, streak=replace(control.streak, count=0))
    if control.breaker(BreakerName.BROKER_ERRORS) is not None:
        resumed = replace(resumed, errors_since=now)
    if kill_switch_present:
        resumed = trip(resumed, BreakerName.KILL_SWITCH, reason="kill-switch file present", at=now)
    return resumed


# --------------------------------------------------------------------------- settling


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    """One thing that changed: an ``events`` row, and an alert when ``alert`` is set."""

    kind: str
    level: AlertLevel
    title: str
    message: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    alert: bool = True


def _level(state: TradingState) -> AlertLevel:
    return AlertLevel.CRITICAL if state is TradingState.HALTED else AlertLevel.WARNING


def settle(before: Control, after: Control, *, now: datetime) -> tuple[Control, list[Change]]:
    """Recompute the trading state of ``after`` and list what changed since ``before``."""
    state, reason = after.effective()
    state_changed = state is not before.state
    settled = replace(
        after, state=state, reason=reason, since=now if state_changed else before.since
    )
    changes: list[Change] = []
    before_names = {b.name for b in before.breakers}
    after_names = {b.name for b in settled.breakers}
    for breaker in settled.breakers:
        if breaker.name in before_names:
            continue
        changes.append(
            Change(
                kind="risk.breaker_tripped",
                level=_level(breaker.state),
                title=f"risk breaker {breaker.name.value} tripped",
                message=breaker.reason,
                payload={
                    "breaker": breaker.name.value,
                    "state": breaker.state.value,
                    "clears": breaker.clears.value,
                    "value": breaker.value,
                    "limit": breaker.limit,
                },
                # The state-change alert below already carries the reason.
                alert=not state_changed,
            )
        )
    for breaker in before.breakers:
        if breaker.name not in after_names:
            changes.append(
                Change(
                    kind="risk.breaker_cleared",
                    level=AlertLevel.INFO,
                    title=f"risk breaker {breaker.name.value} cleared",
                    message=f"was: {breaker.reason}",
                    payload={"breaker": breaker.name.value},
                    alert=False,
                )
            )
    if state_changed:
        changes.append(
            Change(
                kind="risk.state_changed",
                level=_level(state),
                title=f"trading state {before.state.value} → {state.value}",
                message=reason or "all breakers cleared",
                payload={
                    "from": before.state.value,
                    "to": state.value,
                    "reason": reason,
                    "breakers": sorted(after_names),
                },
            )
        )
    if settled.flatten and not before.flatten:
        changes.append(
            Change(
                kind="risk.flatten_requested",
                level=AlertLevel.CRITICAL,
                title="flatten requested",
                message=settled.flatten_reason,
                payload={"reason": settled.flatten_reason},
            )
        )
    elif before.flatten and not settled.flatten:
        changes.append(
            Change(
                kind="risk.flatten_cleared",
                level=AlertLevel.WARNING,
                title="flatten cleared",
                message=f"was: {before.flatten_reason}",
                payload={"reason": before.flatten_reason},
            )
        )
    return settled, changes
