"""Builders for risk tests: settings, accounts, candidates, trades and marks priced with our
own kernels, a recording Alerts double, and a service on a real store."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np

from agent.adapters.persistence import SqlStore, open_store
from agent.calendar import MarketCalendar, market_calendar
from agent.clock import SimClock
from agent.config import AgentSettings, load_settings
from agent.domain import (
    CONTRACT_MULTIPLIER,
    AccountSnapshot,
    AlertLevel,
    Candidate,
    CandidateLeg,
    Greeks,
    LegMark,
    OptionContract,
    OptionRight,
    OrderPurpose,
    PositionIntent,
    Side,
    StructureKind,
    Trade,
    TradeMark,
    TradeStatus,
)
from agent.pricing.bsm import bs_greeks
from agent.risk import RiskService

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
"""Monday 2 March 2026, 10:00 ET, in the regular session."""
EXPIRY = date(2026, 4, 17)
RATE = 0.04

# Budgets so wide that only the rule under test can bind.
WIDE = (
    "risk.max_abs_beta_delta_shares=1e9",
    "risk.max_abs_gamma_shares=1e9",
    "risk.max_abs_vega_usd=1e9",
    "risk.min_theta_usd=-1e9",
    "risk.max_stress_loss_pct=100",
)

_ids = itertools.count(1)


def make_settings(tmp: Path, *overrides: str) -> AgentSettings:
    empty = tmp / "empty-config.yaml"
    empty.touch()
    return load_settings(
        empty,
        [
            f"database_url=sqlite:///{tmp / 'optagent.db'}",
            f"risk.kill_switch_file={tmp / 'KILL'}",
            f"logging.dir={tmp / 'log'}",
            *overrides,
        ],
        env_file=None,
        environ={},
    )


@dataclass
class RecordingAlerts:
    sent: list[tuple[AlertLevel, str, str]] = field(default_factory=list)

    def send(self, *, level: AlertLevel, title: str, body: str) -> None:
        self.sent.append((level, title, body))

    def titles(self) -> list[str]:
        return [title for _, title, _ in self.sent]


def make_service(
    store: SqlStore,
    clock: SimClock,
    settings: AgentSettings,
    alerts: RecordingAlerts | None = None,
    calendar: MarketCalendar | None = None,
) -> RiskService:
    return RiskService(
        store=store,
        clock=clock,
        settings=settings,
        alerts=alerts if alerts is not None else RecordingAlerts(),
        calendar=calendar or market_calendar(),
    )


def memory_store() -> SqlStore:
    return open_store("sqlite:///:memory:")


def account(
    equity: float | Decimal = 100_000,
    *,
    last_equity: float | Decimal | None = None,
    options_buying_power: float | Decimal | None = None,
    as_of: datetime = NOW,
) -> AccountSnapshot:
    eq = Decimal(str(equity))
    return AccountSnapshot(
        equity=eq,
        cash=eq,
        buying_power=eq,
        options_buying_power=Decimal(str(options_buying_power))
        if options_buying_power is not None
        else eq,
        last_equity=Decimal(str(last_equity)) if last_equity is not None else eq,
        options_level=3,
        as_of=as_of,
    )


@dataclass(frozen=True)
class LegSpec:
    right: OptionRight
    strike: float
    side: Side
    ratio: int = 1


def put_spread_legs(short_strike: float, long_strike: float) -> tuple[LegSpec, ...]:
    return (
        LegSpec(OptionRight.PUT, short_strike, Side.SELL),
        LegSpec(OptionRight.PUT, long_strike, Side.BUY),
    )


def _price(spot: float, legs: Sequence[LegSpec], expiry: date, iv: float, at: datetime):  # type: ignore[no-untyped-def]
    t_years = market_calendar().time_to_expiry_years(at, expiry)
    strikes = np.array([leg.strike for leg in legs])
    calls = np.array([leg.right is OptionRight.CALL for leg in legs])
    return bs_greeks(spot, strikes, t_years, RATE, 0.0, iv, calls)


def share_greeks(
    spot: float, legs: Sequence[LegSpec], expiry: date, iv: float, at: datetime, *, units: int
) -> Greeks:
    """Share-equivalent greeks of ``units`` units of ``legs`` (domain Greeks units)."""
    g = _price(spot, legs, expiry, iv, at)
    total = Greeks()
    for i, leg in enumerate(legs):
        shares = leg.side.sign * leg.ratio * units * CONTRACT_MULTIPLIER
        total = total + Greeks(
            delta=float(g.delta[i]) * shares,
            gamma=float(g.gamma[i]) * shares,
            theta=float(g.theta[i]) / 365.0 * shares,
            vega=float(g.vega[i]) / 100.0 * shares,
        )
    return total


def candidate(
    *,
    underlying: str = "XYZ",
    spot: float = 100.0,
    legs: Sequence[LegSpec] | None = None,
    credit: Decimal = Decimal("1.00"),
    max_loss_usd: Decimal | None = None,
    capital_usd: Decimal | None = None,
    expiry: date = EXPIRY,
    iv: float = 0.30,
    at: datetime = NOW,
    purpose: OrderPurpose = OrderPurpose.OPEN,
    strategy: StructureKind = StructureKind.BULL_PUT_SPREAD,
    sector: str | None = None,
    rolled_from_trade_id: str | None = None,
    close_symbols: tuple[str, ...] = (),
    greeks: Greeks | None = None,
    candidate_id: str | None = None,
) -> Candidate:
    """A candidate priced with our kernels. Default: XYZ 95/90 bull put spread, credit $1.00
    per share → max loss (5 − 1) × 100 = $400 per unit, capital $400."""
    legs = tuple(legs) if legs is not None else put_spread_legs(spot * 0.95, spot * 0.90)
    g = _price(spot, legs, expiry, iv, at)
    candidate_legs = []
    for i, spec in enumerate(legs):
        mid = float(g.price[i])
        intent = (
            PositionIntent.SELL_TO_OPEN if spec.side is Side.SELL else PositionIntent.BUY_TO_OPEN
        )
        candidate_legs.append(
            CandidateLeg(
                contract=OptionContract(
                    underlying=underlying,
                    expiry=expiry,
                    right=spec.right,
                    strike=Decimal(str(round(spec.strike, 2))),
                ),
                side=spec.side,
                position_intent=intent,
                ratio=spec.ratio,
                bid=max(0.01, mid - 0.05),
                ask=mid + 0.05,
                mid=mid,
                iv=iv,
                delta=float(g.delta[i]),
                gamma=float(g.gamma[i]),
                theta=float(g.theta[i]),
                vega=float(g.vega[i]),
            )
        )
    strikes = sorted(spec.strike for spec in legs)
    width = Decimal(str(round(strikes[-1] - strikes[0], 2))) if len(legs) > 1 else Decimal(0)
    ml = max_loss_usd if max_loss_usd is not None else (width - credit) * 100
    return Candidate(
        candidate_id=candidate_id or f"cand-{next(_ids)}",
        underlying=underlying,
        strategy=strategy,
        as_of=at,
        expiry=expiry,
        dte=(expiry - at.date()).days,
        legs=tuple(candidate_legs),
        spot=spot,
        net_price_natural=-(credit - Decimal("0.10")),
        net_price_mid=-credit,
        credit_usd=credit * 100,
        width=width,
        max_loss_usd=ml,
        max_profit_usd=credit * 100,
        capital_usd=capital_usd if capital_usd is not None else ml,
        breakevens=(strikes[-1] - float(credit),),
        pop=0.7,
        expected_value_usd=5.0,
        return_on_risk=0.25,
        greeks=greeks if greeks is not None else share_greeks(spot, legs, expiry, iv, at, units=1),
        liquidity_score=80.0,
        iv_rank=50.0,
        purpose=purpose,
        sector=sector,
        scan_id="scan-1",
        rolled_from_trade_id=rolled_from_trade_id,
        close_symbols=close_symbols,
    )


def trade(
    trade_id: str,
    *,
    underlying: str = "XYZ",
    qty: int = 1,
    max_loss_usd: Decimal | float = Decimal(400),
    capital_usd: Decimal | float | None = None,
    status: TradeStatus = TradeStatus.OPEN,
    opened_at: datetime = NOW,
    closed_at: datetime | None = None,
    realized_pnl: Decimal | float = Decimal(0),
    strategy: StructureKind = StructureKind.BULL_PUT_SPREAD,
    risk_decision_id: str | None = None,
    candidate_id: str | None = None,
    rolled_from_trade_id: str | None = None,
    sector: str | None = None,
) -> Trade:
    """``max_loss_usd`` and ``capital_usd`` are for the whole trade (all units)."""
    ml = Decimal(str(max_loss_usd))
    return Trade(
        trade_id=trade_id,
        underlying=underlying,
        strategy=strategy,
        status=status,
        qty=qty,
        opened_at=opened_at,
        closed_at=closed_at,
        max_loss_usd=ml,
        capital_usd=Decimal(str(capital_usd)) if capital_usd is not None else ml,
        realized_pnl=Decimal(str(realized_pnl)),
        risk_decision_id=risk_decision_id,
        candidate_id=candidate_id,
        rolled_from_trade_id=rolled_from_trade_id,
        sector=sector,
    )


def mark(
    trade_id: str,
    *,
    underlying: str = "XYZ",
    spot: float = 100.0,
    legs: Sequence[LegSpec] | None = None,
    qty: int = 1,
    expiry: date = EXPIRY,
    iv: float = 0.30,
    as_of: datetime = NOW,
) -> TradeMark:
    """A mark of ``qty`` units of ``legs`` at ``spot`` (greeks from our kernels)."""
    legs = tuple(legs) if legs is not None else put_spread_legs(95.0, 90.0)
    g = _price(spot, legs, expiry, iv, as_of)
    leg_marks = []
    for i, spec in enumerate(legs):
        mid = float(g.price[i])
        strike = Decimal(str(round(spec.strike, 2)))
        leg_marks.append(
            LegMark(
                symbol=OptionContract(
                    underlying=underlying, expiry=expiry, right=spec.right, strike=strike
                ).symbol,
                side=spec.side,
                qty=spec.ratio * qty,
                right=spec.right,
                strike=float(strike),
                expiry=expiry,
                bid=max(0.01, mid - 0.05),
                ask=mid + 0.05,
                mid=mid,
                iv=iv,
                delta=float(g.delta[i]),
                gamma=float(g.gamma[i]),
                theta=float(g.theta[i]),
                vega=float(g.vega[i]),
                entry_price=Decimal("1.00"),
            )
        )
    return TradeMark(
        trade_id=trade_id,
        underlying=underlying,
        as_of=as_of,
        spot=spot,
        expiry=expiry,
        dte=(expiry - as_of.date()).days,
        qty=qty,
        entry_credit_usd=Decimal(100 * qty),
        close_net_mid=Decimal("0.80"),
        close_net_natural=Decimal("0.90"),
        unrealized_pnl_usd=Decimal(20 * qty),
        greeks=share_greeks(spot, legs, expiry, iv, as_of, units=qty),
        legs=tuple(leg_marks),
        short_put_strike=min((s.strike for s in legs if s.side is Side.SELL), default=None),
    )


def add_trades(store: SqlStore, *trades: Trade) -> None:
    with store.transaction() as tx:
        for t in trades:
            tx.trades.add(t)


def update_trades(store: SqlStore, *trades: Trade) -> None:
    with store.transaction() as tx:
        for t in trades:
            tx.trades.update(t)


def failed_rules(decision) -> set[str]:  # type: ignore[no-untyped-def]
    return {r.rule for r in decision.denials}
