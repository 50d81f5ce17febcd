"""Pre-trade rules: pure functions from numbers to :class:`agent.domain.Reason` values.

Two kinds of rule:

- **fixed** rules do not depend on the order size (trading state, fresh marks, daily loss,
  trades per day, positions per symbol, pattern-day-trader awareness). They return a
  ``Reason`` directly.
- **limit** rules are linear in the number of units ``qty``: the value after the order is
  ``base + per_unit × qty`` (a :class:`Check`). Sizing asks each check for the range of
  whole quantities it allows and takes the largest quantity every check allows.

Comparison convention (docs/risk.md):

- exposure limits (trades per day, risk per trade, positions per symbol, heat,
  concentration, buying power, day trades, greek budgets, stress) **allow the limit itself**:
  a value equal to the limit passes, anything above it fails;
- loss limits (daily loss) **stop at the limit**: reaching it is hitting it.

Every reason carries the rule name (the setting it enforces), the value, the limit and a
message with the numbers, so a denial explains itself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Generic, Protocol, TypeVar

from agent.config import RiskSettings
from agent.domain import AccountSnapshot, OrderPurpose, Reason, TradingState
from agent.risk.greeks import BookGreeks, Scenario

__all__ = [
    "Bound",
    "Check",
    "LimitCheck",
    "QtyRange",
    "StressCheck",
    "buying_power_check",
    "daily_loss_rule",
    "equity_rule",
    "greek_checks",
    "heat_check",
    "largest_allowed_qty",
    "marks_fresh_rule",
    "pct_of",
    "pdt_rule",
    "positions_per_symbol_rule",
    "purpose_rule",
    "risk_per_trade_check",
    "sector_concentration_check",
    "start_of_day_equity",
    "stress_check",
    "symbol_concentration_check",
    "trades_per_day_rule",
    "trading_state_rule",
]

N = TypeVar("N", Decimal, float)

HUNDRED = Decimal(100)


def pct_of(amount: Decimal, pct: float) -> Decimal:
    """``pct`` percent of ``amount`` in exact decimal arithmetic (5 % of $100,000 = $5,000)."""
    return amount * Decimal(str(pct)) / HUNDRED


def _usd(value: Decimal | float) -> float:
    """A money amount as a rounded float (Reason values are JSON scalars)."""
    return round(float(value), 2)


def _num(value: float) -> float:
    return round(value, 2) if math.isfinite(value) else 0.0


# --------------------------------------------------------------------------- linear checks


class Bound(StrEnum):
    MAX = "max"
    """value ≤ limit"""
    MIN = "min"
    """value ≥ limit"""
    ABS = "abs"
    """|value| ≤ limit"""


@dataclass(frozen=True, slots=True)
class QtyRange:
    """Whole quantities ``lo ≤ qty ≤ hi`` (``hi`` None: no upper bound)."""

    lo: int
    hi: int | None

    def intersect(self, other: QtyRange) -> QtyRange | None:
        lo = max(self.lo, other.lo)
        if self.hi is None:
            hi = other.hi
        elif other.hi is None:
            hi = self.hi
        else:
            hi = min(self.hi, other.hi)
        if hi is not None and hi < lo:
            return None
        return QtyRange(lo, hi)


def _max_range(base: N, per_unit: N, limit: N) -> QtyRange | None:
    """Quantities with ``base + per_unit × qty ≤ limit``, qty ≥ 0."""
    slack = limit - base
    if per_unit == 0:
        return QtyRange(0, None) if slack >= 0 else None
    if per_unit > 0:
        if slack < 0:
            return None
        return QtyRange(0, math.floor(slack / per_unit))
    # A negative per-unit value: more units bring the value down (a hedge).
    return QtyRange(max(0, math.ceil(-slack / -per_unit)), None)


class LimitCheck(Protocol):
    """A limit rule whose value depends on the order size."""

    @property
    def rule(self) -> str: ...

    def passes(self, qty: int) -> bool: ...

    def qty_range(self) -> QtyRange | None:
        """The whole quantities (≥ 0) this rule allows; None if none."""
        ...

    def reason(self, qty: int) -> Reason: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Check(Generic[N]):
    """``value(qty) = base + per_unit × qty`` against ``limit`` (see :class:`Bound`).

    ``what`` names the value in messages, ``limit_note`` explains where the limit comes from
    (e.g. "30% of equity $100,000.00"); ``money`` formats values as USD.
    """

    rule: str
    base: N
    per_unit: N
    limit: N
    bound: Bound
    what: str
    limit_note: str = ""
    money: bool = True

    def value_at(self, qty: int) -> N:
        return self.base + self.per_unit * qty

    def passes(self, qty: int) -> bool:
        value = self.value_at(qty)
        if self.bound is Bound.MAX:
            return value <= self.limit
        if self.bound is Bound.MIN:
            return value >= self.limit
        return abs(value) <= self.limit

    def qty_range(self) -> QtyRange | None:
        if self.bound is Bound.MAX:
            return _max_range(self.base, self.per_unit, self.limit)
        if self.bound is Bound.MIN:
            return _max_range(-self.base, -self.per_unit, -self.limit)
        upper = _max_range(self.base, self.per_unit, self.limit)
        lower = _max_range(-self.base, -self.per_unit, self.limit)
        if upper is None or lower is None:
            return None
        return upper.intersect(lower)

    def used_pct(self, qty: int = 0) -> float | None:
        """How much of the limit the value uses, in percent (None for a zero or floor limit)."""
        if self.bound is Bound.MIN or self.limit == 0:
            if self.bound is Bound.MIN and self.limit < 0:
                # A floor below zero (theta): the share of the allowed negative room used.
                value = float(self.value_at(qty))
                return max(0.0, value / float(self.limit) * 100.0)
            return None
        return abs(float(self.value_at(qty))) / float(self.limit) * 100.0

    def _fmt(self, value: Decimal | float) -> str:
        return f"${float(value):,.2f}" if self.money else f"{float(value):,.2f}"

    def reason(self, qty: int) -> Reason:
        value = self.value_at(qty)
        passed = self.passes(qty)
        if self.bound is Bound.MAX:
            op = "≤" if passed else ">"
            shown = self._fmt(value)
        elif self.bound is Bound.MIN:
            op = "≥" if passed else "<"
            shown = self._fmt(value)
        else:
            op = "≤" if passed else ">"
            shown = f"|{self._fmt(value)}|"
        note = f" ({self.limit_note})" if self.limit_note else ""
        return Reason(
            rule=self.rule,
            passed=passed,
            value=_usd(value) if self.money else _num(float(value)),
            limit=_usd(self.limit) if self.money else _num(float(self.limit)),
            message=f"{self.what} {shown} {op} limit {self._fmt(self.limit)}{note} at {qty} unit(s)",
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class StressCheck:
    """Worst scenario loss of the book after the order against ``limit_usd``.

    Scenario P&L is linear in the order size: ``book_pnl[s] + per_unit_pnl[s] × qty``; the
    loss of a scenario is minus its P&L, and every scenario's loss must stay ≤ the limit.
    """

    rule: str = "max_stress_loss_pct"
    scenarios: tuple[Scenario, ...]
    book_pnl_usd: tuple[float, ...]
    per_unit_pnl_usd: tuple[float, ...]
    limit_usd: float
    limit_note: str = ""

    def _checks(self) -> list[Check[float]]:
        return [
            Check(
                rule=self.rule,
                base=-book,
                per_unit=-unit,
                limit=self.limit_usd,
                bound=Bound.MAX,
                what=f"stress loss ({scenario.name})",
            )
            for scenario, book, unit in zip(
                self.scenarios, self.book_pnl_usd, self.per_unit_pnl_usd, strict=True
            )
        ]

    def worst(self, qty: int) -> tuple[float, str]:
        """Worst loss in USD (≥ 0) and its scenario's name at ``qty`` units."""
        worst_loss, worst_name = 0.0, "none"
        for scenario, book, unit in zip(
            self.scenarios, self.book_pnl_usd, self.per_unit_pnl_usd, strict=True
        ):
            loss = -(book + unit * qty)
            if loss > worst_loss:
                worst_loss, worst_name = loss, scenario.name
        return worst_loss, worst_name

    def passes(self, qty: int) -> bool:
        return all(check.passes(qty) for check in self._checks())

    def qty_range(self) -> QtyRange | None:
        allowed: QtyRange | None = QtyRange(0, None)
        for check in self._checks():
            this = check.qty_range()
            if this is None or allowed is None:
                return None
            allowed = allowed.intersect(this)
        return allowed

    def used_pct(self, qty: int = 0) -> float | None:
        if self.limit_usd <= 0:
            return None
        return self.worst(qty)[0] / self.limit_usd * 100.0

    def reason(self, qty: int) -> Reason:
        loss, name = self.worst(qty)
        passed = self.passes(qty)
        op = "≤" if passed else ">"
        note = f" ({self.limit_note})" if self.limit_note else ""
        return Reason(
            rule=self.rule,
            passed=passed,
            value=_num(loss),
            limit=_num(self.limit_usd),
            message=(
                f"worst stress loss ${loss:,.2f} ({name}) {op} limit "
                f"${self.limit_usd:,.2f}{note} at {qty} unit(s)"
            ),
        )


# --------------------------------------------------------------------------- fixed rules


def purpose_rule(purpose: OrderPurpose) -> Reason:
    """Only openings and rolls come to risk; exits are always allowed and never asked."""
    passed = purpose in (OrderPurpose.OPEN, OrderPurpose.ROLL)
    return Reason(
        rule="purpose",
        passed=passed,
        value=purpose.value,
        limit="open|roll",
        message=(
            f"purpose {purpose.value}"
            if passed
            else "closing orders do not go through risk (exits are always allowed)"
        ),
    )


def trading_state_rule(state: TradingState, purpose: OrderPurpose, reason: str = "") -> Reason:
    """ACTIVE allows openings and rolls; REDUCING only rolls; HALTED nothing new."""
    allowed = (
        state is TradingState.ACTIVE
        if purpose is OrderPurpose.OPEN
        else state in (TradingState.ACTIVE, TradingState.REDUCING)
    )
    why = f" ({reason})" if reason and not allowed else ""
    return Reason(
        rule="trading_state",
        passed=allowed,
        value=state.value,
        limit="active" if purpose is OrderPurpose.OPEN else "active|reducing",
        message=f"trading state {state.value} {'allows' if allowed else 'blocks'} "
        f"{purpose.value}{why}",
    )


def marks_fresh_rule(stale_trade_ids: Sequence[str], max_age_s: float) -> Reason:
    """Every open trade needs a fresh mark: without one the book cannot be judged."""
    stale = len(stale_trade_ids)
    shown = ", ".join(sorted(stale_trade_ids)[:5]) + (" …" if stale > 5 else "")
    return Reason(
        rule="book_marks_fresh",
        passed=stale == 0,
        value=stale,
        limit=0,
        message=(
            "every open trade has a mark"
            if stale == 0
            else f"book marks stale: {stale} open trade(s) without a mark newer than "
            f"{max_age_s:g}s ({shown})"
        ),
    )


def equity_rule(equity: Decimal) -> Reason:
    return Reason(
        rule="equity_positive",
        passed=equity > 0,
        value=_usd(equity),
        limit=0.0,
        message=f"account equity ${float(equity):,.2f}",
    )


def start_of_day_equity(account: AccountSnapshot) -> Decimal:
    """``last_equity`` (the previous close); equity itself for an account without one."""
    return account.last_equity if account.last_equity > 0 else account.equity


def daily_loss_rule(account: AccountSnapshot, max_daily_loss_pct: float) -> Reason:
    """Deny openings once the day's loss (realised + unrealised = last_equity − equity)
    reaches ``max_daily_loss_pct`` of start-of-day equity.

    Example: last_equity $100,000, 5 % → limit $5,000; equity $95,001 passes (loss $4,999),
    $95,000 fails (loss $5,000 reaches the limit).
    """
    start = start_of_day_equity(account)
    loss = max(Decimal(0), start - account.equity)
    limit = pct_of(start, max_daily_loss_pct)
    passed = loss < limit
    return Reason(
        rule="max_daily_loss_pct",
        passed=passed,
        value=_usd(loss),
        limit=_usd(limit),
        message=(
            f"daily loss ${float(loss):,.2f} {'<' if passed else '≥'} limit "
            f"${float(limit):,.2f} ({max_daily_loss_pct:g}% of start-of-day equity "
            f"${float(start):,.2f})"
        ),
    )


def trades_per_day_rule(trades_today: int, max_trades_per_day: int) -> Reason:
    """Trades opened today (ET) incl. approvals not yet in the store, plus this one."""
    after = trades_today + 1
    passed = after <= max_trades_per_day
    return Reason(
        rule="max_trades_per_day",
        passed=passed,
        value=after,
        limit=max_trades_per_day,
        message=f"trades today incl. this one {after} {'≤' if passed else '>'} "
        f"limit {max_trades_per_day}",
    )


def positions_per_symbol_rule(symbol: str, open_positions: int, max_positions: int) -> Reason:
    after = open_positions + 1
    passed = after <= max_positions
    return Reason(
        rule="max_positions_per_symbol",
        passed=passed,
        value=after,
        limit=max_positions,
        message=f"open positions in {symbol} incl. this one {after} {'≤' if passed else '>'} "
        f"limit {max_positions}",
    )


def pdt_rule(
    *,
    equity: Decimal,
    day_trades_5d: int,
    potential_day_trades: int,
    threshold_usd: float,
    max_day_trades: int,
) -> Reason:
    """Pattern-day-trader awareness for accounts under ``threshold_usd``.

    Counts the day trades of the last 5 sessions, plus every position opened today that is
    still open (each could still become a day trade), plus this one; the count must stay
    ≤ ``max_day_trades``. Example (max 3): 2 day trades and nothing open today → 3 passes;
    2 day trades and one position opened today → 4 fails.
    """
    if equity >= Decimal(str(threshold_usd)):
        return Reason(
            rule="pdt_day_trades",
            passed=True,
            value=day_trades_5d,
            limit=max_day_trades,
            message=f"equity ${float(equity):,.2f} ≥ ${threshold_usd:,.0f}: no day-trade limit",
        )
    after = day_trades_5d + potential_day_trades + 1
    passed = after <= max_day_trades
    return Reason(
        rule="pdt_day_trades",
        passed=passed,
        value=after,
        limit=max_day_trades,
        message=(
            f"possible day trades in 5 sessions {after} ({day_trades_5d} done, "
            f"{potential_day_trades} open from today, this one) {'≤' if passed else '>'} "
            f"limit {max_day_trades} (equity under ${threshold_usd:,.0f})"
        ),
    )


# --------------------------------------------------------------------------- limit checks


def risk_per_trade_check(
    *, equity: Decimal, max_risk_per_trade_pct: float, capital_per_unit_usd: Decimal
) -> Check[Decimal]:
    """Capital at risk in this order ≤ ``max_risk_per_trade_pct`` of equity.

    The capital per unit is ``candidate.capital_usd``: the max loss of a spread or condor,
    strike × 100 − premium for a cash-secured put. Example: equity $100,000 at 20 % →
    $20,000; $400/unit allows 50 units; a $25,000 cash-secured put is denied at one unit.
    """
    return Check(
        rule="max_risk_per_trade_pct",
        base=Decimal(0),
        per_unit=capital_per_unit_usd,
        limit=pct_of(equity, max_risk_per_trade_pct),
        bound=Bound.MAX,
        what="capital at risk in this order",
        limit_note=f"{max_risk_per_trade_pct:g}% of equity ${float(equity):,.2f}",
    )


def heat_check(
    *,
    equity: Decimal,
    max_portfolio_heat_pct: float,
    heat_usd: Decimal,
    max_loss_per_unit_usd: Decimal,
) -> Check[Decimal]:
    """Total max loss of open trades (and approvals in flight) plus this order ≤
    ``max_portfolio_heat_pct`` of equity.

    Example: equity $100,000 at 30 % → $30,000; with $29,000 open, a $400/unit order fits
    2 units ($29,800), not 3 ($30,200).
    """
    return Check(
        rule="max_portfolio_heat_pct",
        base=heat_usd,
        per_unit=max_loss_per_unit_usd,
        limit=pct_of(equity, max_portfolio_heat_pct),
        bound=Bound.MAX,
        what="portfolio heat",
        limit_note=f"{max_portfolio_heat_pct:g}% of equity ${float(equity):,.2f}",
    )


def _heat_budget(equity: Decimal, settings: RiskSettings) -> Decimal:
    return pct_of(equity, settings.max_portfolio_heat_pct)


def symbol_concentration_check(
    *,
    symbol: str,
    equity: Decimal,
    settings: RiskSettings,
    symbol_heat_usd: Decimal,
    max_loss_per_unit_usd: Decimal,
) -> Check[Decimal]:
    """Max loss in one underlying ≤ ``max_symbol_concentration_pct`` of the heat budget
    (``max_portfolio_heat_pct`` of equity).

    Example: equity $100,000, heat 30 %, concentration 30 % → $9,000 per symbol.
    """
    budget = _heat_budget(equity, settings)
    return Check(
        rule="max_symbol_concentration_pct",
        base=symbol_heat_usd,
        per_unit=max_loss_per_unit_usd,
        limit=pct_of(budget, settings.max_symbol_concentration_pct),
        bound=Bound.MAX,
        what=f"max loss in {symbol}",
        limit_note=f"{settings.max_symbol_concentration_pct:g}% of the heat budget "
        f"${float(budget):,.2f}",
    )


def sector_concentration_check(
    *,
    sector: str,
    equity: Decimal,
    settings: RiskSettings,
    sector_heat_usd: Decimal,
    max_loss_per_unit_usd: Decimal,
) -> Check[Decimal]:
    """Max loss in one sector ≤ ``max_sector_concentration_pct`` of the heat budget."""
    budget = _heat_budget(equity, settings)
    return Check(
        rule="max_sector_concentration_pct",
        base=sector_heat_usd,
        per_unit=max_loss_per_unit_usd,
        limit=pct_of(budget, settings.max_sector_concentration_pct),
        bound=Bound.MAX,
        what=f"max loss in sector {sector}",
        limit_note=f"{settings.max_sector_concentration_pct:g}% of the heat budget "
        f"${float(budget):,.2f}",
    )


def buying_power_check(
    *,
    options_buying_power_usd: Decimal,
    reserved_usd: Decimal,
    capital_per_unit_usd: Decimal,
    released_usd: Decimal = Decimal(0),
) -> Check[Decimal]:
    """Capital of this order ≤ options buying power minus capital reserved by approvals the
    broker does not show yet (a roll first releases the capital of the trade it closes).

    Example: buying power $10,000, $2,000 reserved, $1,000/unit → 8 units.
    """
    return Check(
        rule="buying_power",
        base=-released_usd,
        per_unit=capital_per_unit_usd,
        limit=options_buying_power_usd - reserved_usd,
        bound=Bound.MAX,
        what="capital of this order",
        limit_note=f"options buying power ${float(options_buying_power_usd):,.2f} − "
        f"reserved ${float(reserved_usd):,.2f}",
    )


def greek_checks(
    *, settings: RiskSettings, book: BookGreeks, per_unit: BookGreeks
) -> list[Check[float]]:
    """Budgets for the book's greeks after the order (beta-weighted delta and gamma in SPY
    shares, vega USD per vol point, theta USD/day)."""
    return [
        Check(
            rule="max_abs_beta_delta_shares",
            base=book.beta_delta_shares,
            per_unit=per_unit.beta_delta_shares,
            limit=settings.max_abs_beta_delta_shares,
            bound=Bound.ABS,
            what="beta-weighted delta (SPY shares)",
            money=False,
        ),
        Check(
            rule="max_abs_gamma_shares",
            base=book.gamma_shares,
            per_unit=per_unit.gamma_shares,
            limit=settings.max_abs_gamma_shares,
            bound=Bound.ABS,
            what="gamma (SPY shares per USD)",
            money=False,
        ),
        Check(
            rule="max_abs_vega_usd",
            base=book.vega_usd,
            per_unit=per_unit.vega_usd,
            limit=settings.max_abs_vega_usd,
            bound=Bound.ABS,
            what="vega (USD per vol point)",
        ),
        Check(
            rule="min_theta_usd",
            base=book.theta_usd,
            per_unit=per_unit.theta_usd,
            limit=settings.min_theta_usd,
            bound=Bound.MIN,
            what="theta (USD/day)",
        ),
    ]


def stress_check(
    *,
    equity: Decimal,
    max_stress_loss_pct: float,
    scenarios: Sequence[Scenario],
    book_pnl_usd: Sequence[float],
    per_unit_pnl_usd: Sequence[float],
) -> StressCheck:
    """Worst stress loss of the book after the order ≤ ``max_stress_loss_pct`` of equity."""
    return StressCheck(
        scenarios=tuple(scenarios),
        book_pnl_usd=tuple(book_pnl_usd),
        per_unit_pnl_usd=tuple(per_unit_pnl_usd),
        limit_usd=float(pct_of(equity, max_stress_loss_pct)),
        limit_note=f"{max_stress_loss_pct:g}% of equity ${float(equity):,.2f}",
    )


def largest_allowed_qty(target: int, checks: Sequence[LimitCheck]) -> tuple[int, str | None]:
    """The largest whole ``qty`` in [1, target] that every check allows (0 if none), and the
    rule that bound it below ``target`` (None when the target itself passes).

    The allowed set of every check is an interval of quantities (each is linear in qty), so
    their intersection is too: the answer is its upper end, capped at ``target``.
    """
    if target < 1:
        return 0, None
    allowed: QtyRange | None = QtyRange(1, target)
    binding: str | None = None
    for check in checks:
        this = check.qty_range()
        if this is None:
            return 0, check.rule
        before = allowed
        allowed = allowed.intersect(this) if allowed is not None else None
        if allowed is None:
            return 0, check.rule
        if before is not None and allowed.hi != before.hi:
            binding = check.rule
    assert allowed is not None and allowed.hi is not None
    qty = allowed.hi
    # Float rounding in a range can be off by one unit; the checks themselves decide.
    while qty >= allowed.lo and not all(check.passes(qty) for check in checks):
        qty -= 1
    if qty < allowed.lo:
        failing = next((c.rule for c in checks if not c.passes(allowed.lo)), binding)
        return 0, failing
    return qty, binding if qty < target else None
