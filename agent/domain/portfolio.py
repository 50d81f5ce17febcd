"""Marks of open trades and the book view that risk and monitoring share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from agent.domain.book import AccountSnapshot, Trade
from agent.domain.decisions import Candidate, Greeks
from agent.domain.enums import ExitReason, OptionRight, PositionIntent, Side


@dataclass(frozen=True, slots=True, kw_only=True)
class LegMark:
    """One open leg re-priced from a fresh quote. Prices USD per share; greeks per share in
    kernel units (theta per year, vega per 1.00 of vol)."""

    symbol: str
    side: Side
    qty: int
    right: OptionRight | None
    """None for stock."""
    strike: float | None
    expiry: date | None
    bid: float
    ask: float
    mid: float
    iv: float
    delta: float
    gamma: float
    theta: float
    vega: float
    entry_price: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class TradeMark:
    """An open trade re-priced at ``as_of``.

    ``close_net_mid`` / ``close_net_natural`` are the signed net prices per unit of the order
    that would close the trade (positive = we pay, e.g. buying back a credit spread).
    ``unrealized_pnl_usd`` is at mid for all units. ``greeks`` are the trade's total
    share-equivalent greeks (see :class:`Greeks`).
    """

    trade_id: str
    underlying: str
    as_of: datetime
    spot: float
    expiry: date | None
    dte: int | None
    qty: int
    entry_credit_usd: Decimal
    """Credit received for all units at entry (negative for a debit)."""
    close_net_mid: Decimal
    close_net_natural: Decimal
    unrealized_pnl_usd: Decimal
    greeks: Greeks
    legs: tuple[LegMark, ...]
    short_put_strike: float | None = None
    short_call_strike: float | None = None
    breached: OptionRight | None = None
    """The side whose short strike spot has crossed (put: spot below it; call: above)."""
    max_abs_short_delta: float = 0.0
    prob_touch: float = float("nan")
    """Probability that spot touches the nearest short strike before expiry (model)."""
    short_distance_pct: float = float("nan")
    """Distance from spot to the nearest short strike as % of spot (negative = ITM)."""
    min_short_put_extrinsic: float = float("nan")
    """Smallest extrinsic value (mid − intrinsic, USD/share) among ITM short puts."""
    quote_problems: tuple[str, ...] = ()

    @property
    def captured_pct(self) -> float:
        """Share of the entry credit captured so far at mid (100 = all of it)."""
        credit = float(self.entry_credit_usd)
        if credit <= 0:
            return float("nan")
        return float(self.unrealized_pnl_usd) / credit * 100.0


@dataclass(frozen=True, slots=True, kw_only=True)
class BookView:
    """What risk needs to judge a new order: the account and the open trades with marks."""

    as_of: datetime
    account: AccountSnapshot
    open_trades: tuple[Trade, ...]
    marks: Mapping[str, TradeMark] = field(default_factory=dict)
    realized_pnl_today_usd: Decimal = Decimal(0)
    trades_opened_today: int = 0
    day_trades_5d: int = 0
    betas: Mapping[str, float] = field(default_factory=dict)
    """Beta to SPY per underlying (1.0 where unknown)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ExitSignal:
    """A strategy's verdict that a trade should be closed (the rule that fired, and why)."""

    reason: ExitReason
    detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ExitAction:
    trade_id: str
    reason: ExitReason
    detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SingleLegAction:
    """A single-leg order the monitor wants for a trade: selling assigned stock with a limit,
    selling a covered call against it, or closing a leg left alone by an assignment.

    ``limit_bound`` is the worst acceptable price per share (unsigned, USD)."""

    trade_id: str
    symbol: str
    side: Side
    position_intent: PositionIntent
    qty: int
    limit_bound: Decimal
    reason: ExitReason
    detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RollAction:
    """Close ``trade_id`` (or its tested side) and open ``candidate`` as ONE multi-leg order.

    ``candidate.legs`` holds the opening legs; ``close_symbols`` the legs being closed.
    ``net_price_*`` on the candidate are for the whole roll order.
    """

    trade_id: str
    candidate: Candidate
    close_symbols: tuple[str, ...]
    reason: ExitReason
    """Why the trade needed action; a roll that risk denies becomes a close for this reason."""
    detail: str
