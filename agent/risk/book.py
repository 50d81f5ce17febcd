"""The book as risk judges it: open trades (priced by their marks) and approvals in flight.

An **approval** reserves what it approved — a trade for today's count, its max loss, its
capital and its greeks — until the trade shows up in the store (execution writes it, with
``risk_decision_id``, before it sends the order) or until ``reservation_ttl_s`` passes
without it (a dry run, or an order never placed). So two approvals in one scan cannot
together breach a limit. Approvals live in the ``risk.approvals`` state document, written in
the transaction that records the decision, so a restarted risk service still sees them.

Once its trade is visible the approval stops counting on its own; it is kept only as the
trade's pricing (legs, greeks) until the monitor's first mark of the trade arrives, because
a freshly filled trade has no mark yet.

A trade is **priced** by its mark when the mark is at most ``max_mark_age_s`` old, or else by
its approval when that is at most as old; a trade with neither is **stale**, and openings are
denied while any trade is stale ("book marks stale") rather than judged on a guess.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from agent.calendar import ET
from agent.domain import (
    Greeks,
    OptionRight,
    OrderPurpose,
    StructureKind,
    Trade,
    TradeMark,
    TradeStatus,
)
from agent.risk.codec import (
    decode_date,
    decode_datetime,
    decode_decimal,
    decode_float,
    decode_greeks,
    encode_date,
    encode_datetime,
    encode_decimal,
    encode_float,
    encode_greeks,
)
from agent.risk.greeks import BookGreeks, ExposureLeg, StressPosition, beta_weighted, mark_legs

__all__ = [
    "LIVE_STATUSES",
    "MAX_APPROVAL_AGE",
    "Approval",
    "Book",
    "BookTotals",
    "Exposure",
    "book_totals",
    "build_book",
    "roll_remainder",
]

LIVE_STATUSES = (TradeStatus.PENDING, TradeStatus.OPEN, TradeStatus.CLOSING)
"""Trades that hold (or may soon hold) risk."""
NOT_NEW_TRADES = (StructureKind.STOCK, StructureKind.SINGLE_OPTION)
"""Assigned stock and adopted options: in the book, but never an opening risk approved."""
MAX_APPROVAL_AGE = timedelta(days=1)
"""An approval is forgotten after a day whatever happened to it."""


def _encode_leg(leg: ExposureLeg) -> dict[str, Any]:
    return {
        "symbol": leg.symbol,
        "right": None if leg.right is None else leg.right.value,
        "strike": None if leg.strike is None else encode_float(leg.strike),
        "expiry": encode_date(leg.expiry),
        "signed_qty": leg.signed_qty,
        "iv": encode_float(leg.iv),
        "delta": encode_float(leg.delta),
        "gamma": encode_float(leg.gamma),
        "theta": encode_float(leg.theta),
        "vega": encode_float(leg.vega),
    }


def _decode_leg(document: Mapping[str, Any]) -> ExposureLeg:
    right = document.get("right")
    strike = document.get("strike")
    return ExposureLeg(
        symbol=str(document["symbol"]),
        right=None if right is None else OptionRight(right),
        strike=None if strike is None else decode_float(strike),
        expiry=decode_date(document.get("expiry")),
        signed_qty=int(document["signed_qty"]),
        iv=decode_float(document["iv"]),
        delta=decode_float(document["delta"]),
        gamma=decode_float(document["gamma"]),
        theta=decode_float(document["theta"]),
        vega=decode_float(document["vega"]),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Approval:
    """What one approval reserves. USD amounts and greeks for the whole order (all units)."""

    decision_id: str
    candidate_id: str
    underlying: str
    sector: str
    strategy: StructureKind
    purpose: OrderPurpose
    rolled_from_trade_id: str | None
    qty: int
    max_loss_usd: Decimal
    capital_usd: Decimal
    approved_at: datetime
    spot: float
    greeks: Greeks
    legs: tuple[ExposureLeg, ...]

    def encode(self) -> dict[str, Any]:
        return {
            "decision_id": self.decision_id,
            "candidate_id": self.candidate_id,
            "underlying": self.underlying,
            "sector": self.sector,
            "strategy": self.strategy.value,
            "purpose": self.purpose.value,
            "rolled_from_trade_id": self.rolled_from_trade_id,
            "qty": self.qty,
            "max_loss_usd": encode_decimal(self.max_loss_usd),
            "capital_usd": encode_decimal(self.capital_usd),
            "approved_at": encode_datetime(self.approved_at),
            "spot": encode_float(self.spot),
            "greeks": encode_greeks(self.greeks),
            "legs": [_encode_leg(leg) for leg in self.legs],
        }

    @classmethod
    def decode(cls, document: Mapping[str, Any]) -> Approval:
        return cls(
            decision_id=str(document["decision_id"]),
            candidate_id=str(document["candidate_id"]),
            underlying=str(document["underlying"]),
            sector=str(document["sector"]),
            strategy=StructureKind(document["strategy"]),
            purpose=OrderPurpose(document["purpose"]),
            rolled_from_trade_id=document.get("rolled_from_trade_id"),
            qty=int(document["qty"]),
            max_loss_usd=decode_decimal(document["max_loss_usd"]),
            capital_usd=decode_decimal(document["capital_usd"]),
            approved_at=decode_datetime(document["approved_at"]),
            spot=decode_float(document["spot"]),
            greeks=decode_greeks(document["greeks"]),
            legs=tuple(_decode_leg(leg) for leg in document["legs"]),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Exposure:
    """What one open trade (or approval in flight) puts at risk. USD for the whole position;
    ``greeks`` in share-equivalents; ``legs`` None when the position is not priced."""

    key: str
    trade_id: str | None
    underlying: str
    sector: str
    qty: int
    max_loss_usd: Decimal
    capital_usd: Decimal
    spot: float
    greeks: Greeks
    legs: tuple[ExposureLeg, ...] | None
    priced_at: datetime | None = None
    is_position: bool = True
    """Counts toward positions per symbol (a roll's remainder does not)."""
    in_flight: bool = False

    @property
    def priced(self) -> bool:
        return self.legs is not None


def roll_remainder(exposure: Exposure, close_symbols: Iterable[str]) -> Exposure | None:
    """What stays of ``exposure`` after a roll closes ``close_symbols`` (None: everything).

    The remainder keeps its legs' greeks and stress but no max loss or capital of its own:
    the rolled trade's max loss is the roll candidate's (the whole structure after the roll).
    """
    closing = set(close_symbols)
    if not closing or exposure.legs is None:
        return None
    kept = tuple(leg for leg in exposure.legs if leg.symbol not in closing)
    if not kept:
        return None
    closed_greeks = Greeks()
    for leg in exposure.legs:
        if leg.symbol in closing:
            closed_greeks = closed_greeks + leg.share_greeks()
    return Exposure(
        key=f"{exposure.key}:remainder",
        trade_id=None,
        underlying=exposure.underlying,
        sector=exposure.sector,
        qty=0,
        max_loss_usd=Decimal(0),
        capital_usd=Decimal(0),
        spot=exposure.spot,
        greeks=exposure.greeks + closed_greeks.scaled(-1.0),
        legs=kept,
        priced_at=exposure.priced_at,
        is_position=False,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Book:
    """The book at ``as_of``: exposures and the counters the fixed rules need."""

    as_of: datetime
    exposures: tuple[Exposure, ...]
    stale_trade_ids: tuple[str, ...]
    trades_today: int
    """Trades opened today (ET) in the store plus opening approvals in flight."""
    potential_day_trades: int
    """Positions opened today that are still open, plus opening approvals in flight."""
    day_trades_5d: int
    reserved_capital_usd: Decimal
    """Capital of approvals the store does not show as trades yet."""
    realized_pnl_today_usd: Decimal
    approvals: tuple[Approval, ...]
    """Approvals still live after pruning (what ``risk.approvals`` should hold)."""

    def exposure_of(self, trade_id: str) -> Exposure | None:
        return next((e for e in self.exposures if e.trade_id == trade_id), None)

    def open_trade_count(self) -> int:
        return sum(1 for e in self.exposures if e.is_position)


def _is_new_trade(trade: Trade) -> bool:
    return (
        trade.status is not TradeStatus.CANCELED
        and trade.rolled_from_trade_id is None
        and trade.strategy not in NOT_NEW_TRADES
    )


def _et_day(at: datetime) -> date:
    return at.astimezone(ET).date()


def build_book(
    *,
    now: datetime,
    today_start: datetime,
    day_trades_since: datetime,
    live_trades: Sequence[Trade],
    opened_today: Sequence[Trade],
    closed_recent: Sequence[Trade],
    marks: Mapping[str, TradeMark],
    approvals: Sequence[Approval],
    max_mark_age_s: float,
    reservation_ttl_s: float,
    sector_of: Callable[[str, str | None], str],
) -> Book:
    """Assemble the book from the store's trades, the latest marks and the approvals.

    ``live_trades``: PENDING/OPEN/CLOSING trades; ``opened_today``: trades with
    ``opened_at ≥ today_start``; ``closed_recent``: CLOSED trades closed since
    ``min(today_start, day_trades_since)``.
    """
    max_age = timedelta(seconds=max_mark_age_s)
    ttl = timedelta(seconds=reservation_ttl_s)
    known: dict[str, Trade] = {t.trade_id: t for t in (*opened_today, *live_trades)}
    by_decision = {t.risk_decision_id: t for t in known.values() if t.risk_decision_id}
    by_candidate = {t.candidate_id: t for t in known.values() if t.candidate_id}

    kept: list[Approval] = []
    in_flight: list[Approval] = []
    pricing_of: dict[str, Approval] = {}
    for approval in approvals:
        age = now - approval.approved_at
        if age > MAX_APPROVAL_AGE:
            continue
        trade = by_decision.get(approval.decision_id) or by_candidate.get(approval.candidate_id)
        if trade is None:
            if age > ttl:
                continue  # never became a trade (dry run, not placed): release it
            kept.append(approval)
            in_flight.append(approval)
            continue
        if trade.status not in LIVE_STATUSES:
            continue
        mark = marks.get(trade.trade_id)
        if mark is not None and mark.as_of >= approval.approved_at:
            continue  # the monitor has priced the trade itself
        kept.append(approval)
        pricing_of[trade.trade_id] = approval

    exposures: list[Exposure] = []
    stale: list[str] = []
    for trade in live_trades:
        sector = sector_of(trade.underlying, trade.sector)
        mark = marks.get(trade.trade_id)
        pricing = pricing_of.get(trade.trade_id)
        legs: tuple[ExposureLeg, ...] | None = None
        greeks, spot, priced_at = Greeks(), float("nan"), None
        if mark is not None and now - mark.as_of <= max_age:
            legs = mark_legs(mark.legs)
            greeks, spot, priced_at = mark.greeks, mark.spot, mark.as_of
        elif pricing is not None and now - pricing.approved_at <= max_age:
            legs = pricing.legs
            greeks, spot, priced_at = pricing.greeks, pricing.spot, pricing.approved_at
        if legs is not None and not (math.isfinite(spot) and spot > 0):
            legs = None  # a mark without a usable spot cannot be stressed
        if legs is None:
            stale.append(trade.trade_id)
        exposures.append(
            Exposure(
                key=trade.trade_id,
                trade_id=trade.trade_id,
                underlying=trade.underlying,
                sector=sector,
                qty=trade.qty,
                max_loss_usd=trade.max_loss_usd,
                capital_usd=trade.capital_usd,
                spot=spot,
                greeks=greeks,
                legs=legs,
                priced_at=priced_at,
            )
        )
    for flying in in_flight:
        exposures.append(
            Exposure(
                key=f"approval:{flying.decision_id}",
                trade_id=None,
                underlying=flying.underlying,
                sector=flying.sector,
                qty=flying.qty,
                max_loss_usd=flying.max_loss_usd,
                capital_usd=flying.capital_usd,
                spot=flying.spot,
                greeks=flying.greeks,
                legs=flying.legs,
                priced_at=flying.approved_at,
                # A roll in flight replaces a position; it does not add one.
                is_position=flying.purpose is OrderPurpose.OPEN,
                in_flight=True,
            )
        )

    opening_in_flight_today = [
        a for a in in_flight if a.purpose is OrderPurpose.OPEN and a.approved_at >= today_start
    ]
    trades_today = sum(1 for t in opened_today if _is_new_trade(t)) + len(opening_in_flight_today)
    open_from_today = sum(1 for t in opened_today if t.status in LIVE_STATUSES)
    day_trades = sum(
        1
        for t in closed_recent
        if t.closed_at is not None
        and t.closed_at >= day_trades_since
        and _et_day(t.opened_at) == _et_day(t.closed_at)
    )
    realized_today = sum(
        (t.realized_pnl for t in closed_recent if t.closed_at and t.closed_at >= today_start),
        Decimal(0),
    )
    return Book(
        as_of=now,
        exposures=tuple(exposures),
        stale_trade_ids=tuple(stale),
        trades_today=trades_today,
        potential_day_trades=open_from_today + len(opening_in_flight_today),
        day_trades_5d=day_trades,
        reserved_capital_usd=sum((a.capital_usd for a in in_flight), Decimal(0)),
        realized_pnl_today_usd=realized_today,
        approvals=tuple(kept),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class BookTotals:
    """Aggregates of a set of exposures: heat (total max loss, USD) overall, per symbol and
    per sector; open positions per symbol; capital; beta-weighted greeks; stress P&L per
    scenario (USD, negative = loss) of the priced exposures."""

    heat_usd: Decimal
    heat_by_symbol: Mapping[str, Decimal]
    heat_by_sector: Mapping[str, Decimal]
    positions_by_symbol: Mapping[str, int]
    capital_usd: Decimal
    greeks: BookGreeks
    stress_pnl_usd: tuple[float, ...]


def book_totals(
    exposures: Sequence[Exposure],
    *,
    beta_of: Callable[[str], float],
    reference_spot: float | None,
    stress: Callable[[Sequence[StressPosition]], tuple[float, ...]],
) -> BookTotals:
    heat = Decimal(0)
    capital = Decimal(0)
    by_symbol: dict[str, Decimal] = {}
    by_sector: dict[str, Decimal] = {}
    positions: dict[str, int] = {}
    greeks = BookGreeks()
    stress_positions: list[StressPosition] = []
    for exposure in exposures:
        heat += exposure.max_loss_usd
        capital += exposure.capital_usd
        by_symbol[exposure.underlying] = (
            by_symbol.get(exposure.underlying, Decimal(0)) + exposure.max_loss_usd
        )
        by_sector[exposure.sector] = (
            by_sector.get(exposure.sector, Decimal(0)) + exposure.max_loss_usd
        )
        if exposure.is_position:
            positions[exposure.underlying] = positions.get(exposure.underlying, 0) + 1
        if exposure.legs is None:
            continue
        beta = beta_of(exposure.underlying)
        greeks = greeks + beta_weighted(
            exposure.greeks, beta=beta, spot=exposure.spot, reference_spot=reference_spot
        )
        stress_positions.append(
            StressPosition(
                underlying=exposure.underlying, spot=exposure.spot, beta=beta, legs=exposure.legs
            )
        )
    return BookTotals(
        heat_usd=heat,
        heat_by_symbol=by_symbol,
        heat_by_sector=by_sector,
        positions_by_symbol=positions,
        capital_usd=capital,
        greeks=greeks,
        stress_pnl_usd=stress(stress_positions),
    )
