"""Properties of the risk service over random sequences of approvals, fills, marks, equity
moves and breakers, checked against an independent model of the book.

- No approved trade ever takes the book past any limit: after every approval the model's
  book (open trades at their marks + approvals in flight, incl. this one) is within the
  trades-per-day, positions-per-symbol, risk-per-trade, heat, symbol/sector concentration,
  buying-power, daily-loss, greek-budget and stress limits (stress re-priced here with
  ``bs_price`` directly, not through risk's code).
- A book that is HALTED (or REDUCING) never approves an opening trade.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.adapters.persistence import SqlStore
from agent.calendar import market_calendar
from agent.clock import SimClock
from agent.config import AgentSettings
from agent.domain import (
    CONTRACT_MULTIPLIER,
    Candidate,
    Greeks,
    OptionRight,
    Side,
    StructureKind,
    TradeStatus,
    TradingState,
)
from agent.pricing.bsm import bs_price
from agent.risk import RiskService
from tests.unit.risk.helpers import (
    NOW,
    RATE,
    LegSpec,
    account,
    add_trades,
    candidate,
    make_service,
    make_settings,
    mark,
    memory_store,
    trade,
    update_trades,
)

SYMBOLS = ("AAPL", "MSFT", "KO", "XOM", "ZZZ")
EXPIRIES = (date(2026, 4, 2), date(2026, 4, 17), date(2026, 5, 15))
TTL = timedelta(seconds=300 + 60)  # execution.fill_timeout_s + grace
_TMP = Path(tempfile.mkdtemp(prefix="risk-props-"))
OVERRIDES = (
    "risk.risk_per_trade_pct=12",
    "risk.max_abs_beta_delta_shares=400",
    "risk.max_abs_gamma_shares=60",
    "risk.max_abs_vega_usd=600",
    "risk.min_theta_usd=-150",
    "risk.max_stress_loss_pct=12",
    "risk.max_trades_per_day=6",
    "risk.max_symbol_concentration_pct=60",
    "risk.max_sector_concentration_pct=60",
)
SETTINGS: AgentSettings = make_settings(_TMP, *OVERRIDES)
LAST_EQUITY = Decimal(100_000)


@dataclass
class Position:
    """An approved structure in the model: in flight until filled, then an open trade."""

    key: str
    symbol: str
    legs: tuple[LegSpec, ...]
    expiry: date
    iv: float
    qty: int
    max_loss_usd: Decimal
    capital_usd: Decimal
    greeks_per_unit: Greeks
    approved_at: datetime
    approved_spot: float
    decision_id: str
    filled: bool = False


@dataclass
class Model:
    clock: SimClock
    service: RiskService
    store: SqlStore
    spots: dict[str, float] = field(default_factory=lambda: dict.fromkeys(SYMBOLS, 100.0))
    equity: Decimal = LAST_EQUITY
    positions: dict[str, Position] = field(default_factory=dict)
    filled_count: int = 0
    next_id: int = 0

    # --- what the model believes the book holds
    def live(self) -> list[Position]:
        now = self.clock.now()
        return [p for p in self.positions.values() if p.filled or now - p.approved_at <= TTL]

    def account(self):  # type: ignore[no-untyped-def]
        used = sum((p.capital_usd for p in self.positions.values() if p.filled), Decimal(0))
        return account(
            self.equity,
            last_equity=LAST_EQUITY,
            options_buying_power=max(Decimal(0), self.equity - used),
        )

    def marks(self):  # type: ignore[no-untyped-def]
        now = self.clock.now()
        return [
            mark(
                p.key,
                underlying=p.symbol,
                spot=self.spots[p.symbol],
                legs=p.legs,
                qty=p.qty,
                expiry=p.expiry,
                iv=p.iv,
                as_of=now,
            )
            for p in self.positions.values()
            if p.filled
        ]

    def update(self) -> None:
        self.service.update(account=self.account(), marks=self.marks(), data_age_s=1.0)


def _greeks_of(model: Model) -> Greeks:
    total = Greeks()
    marks = {m.trade_id: m for m in model.marks()}
    for p in model.live():
        total = total + (marks[p.key].greeks if p.filled else p.greeks_per_unit.scaled(p.qty))
    return total


def _stress_worst_loss(model: Model) -> float:
    """Independent re-pricing: every leg of the live book, five scenarios."""
    scenarios = [(-10, 0), (10, 0), (0, 50), (-10, 50), (10, 50)]
    calendar = market_calendar()
    now = model.clock.now()
    worst = 0.0
    for spot_shock, vol_shock in scenarios:
        pnl = 0.0
        for p in model.live():
            spot = model.spots[p.symbol] if p.filled else p.approved_spot
            t_years = calendar.time_to_expiry_years(now, p.expiry)
            for leg in p.legs:
                call = leg.right is OptionRight.CALL
                base = float(bs_price(spot, leg.strike, t_years, RATE, 0.0, p.iv, call))
                shocked = float(
                    bs_price(
                        spot * (1 + spot_shock / 100),
                        leg.strike,
                        t_years,
                        RATE,
                        0.0,
                        p.iv * (1 + vol_shock / 100),
                        call,
                    )
                )
                pnl += (shocked - base) * leg.side.sign * leg.ratio * p.qty * CONTRACT_MULTIPLIER
        worst = max(worst, -pnl)
    return worst


def _assert_within_limits(model: Model, approved: Position, acct) -> None:  # type: ignore[no-untyped-def]
    risk = SETTINGS.risk
    equity = acct.equity
    live = model.live()
    heat = sum((p.max_loss_usd for p in live), Decimal(0))
    assert heat <= equity * Decimal("0.30"), "heat"
    # Concentration: the approved trade's symbol and sector (another symbol may sit above its
    # limit after equity fell — the approval did not put it there, and it must not add to it).
    budget = equity * Decimal("0.30") * Decimal("0.60")
    on_symbol = [p for p in live if p.symbol == approved.symbol]
    assert len(on_symbol) <= risk.max_positions_per_symbol, "positions per symbol"
    assert sum((p.max_loss_usd for p in on_symbol), Decimal(0)) <= budget, "symbol"
    sector_of = SETTINGS.universe.sectors.get
    sector = sector_of(approved.symbol, approved.symbol)
    in_sector = [p for p in live if sector_of(p.symbol, p.symbol) == sector]
    assert sum((p.max_loss_usd for p in in_sector), Decimal(0)) <= budget, "sector"
    assert approved.capital_usd <= equity * Decimal("0.20"), "risk per trade"
    in_flight = sum((p.capital_usd for p in live if not p.filled), Decimal(0))
    assert in_flight <= acct.options_buying_power, "buying power"
    assert LAST_EQUITY - equity < LAST_EQUITY * Decimal("0.05"), "daily loss"
    trades_today = model.filled_count + sum(1 for p in live if not p.filled)
    assert trades_today <= risk.max_trades_per_day, "trades per day"
    greeks = _greeks_of(model)
    tol = 1e-6
    assert abs(greeks.delta) <= risk.max_abs_beta_delta_shares + tol, "delta"
    assert abs(greeks.gamma) <= risk.max_abs_gamma_shares + tol, "gamma"
    assert abs(greeks.vega) <= risk.max_abs_vega_usd + tol, "vega"
    assert greeks.theta >= risk.min_theta_usd - tol, "theta"
    worst = _stress_worst_loss(model)
    assert worst <= float(equity) * risk.max_stress_loss_pct / 100 * (1 + 1e-9) + 1e-6, "stress"


def _candidate(  # noqa: PLR0917 - mirrors the generated tuple
    model: Model, symbol: str, kind: int, width: float, credit: float, iv: float, expiry: date
) -> Candidate:
    spot = model.spots[symbol]
    short = round(spot * 0.95 * 2) / 2
    if kind == 0:  # bull put spread
        legs = (
            LegSpec(OptionRight.PUT, short, Side.SELL),
            LegSpec(OptionRight.PUT, short - width, Side.BUY),
        )
        return candidate(
            underlying=symbol, spot=spot, legs=legs, credit=Decimal(str(credit)), iv=iv,
            expiry=expiry, at=model.clock.now(),
        )  # fmt: skip
    if kind == 1:  # iron condor
        call = round(spot * 1.05 * 2) / 2
        legs = (
            LegSpec(OptionRight.PUT, short, Side.SELL),
            LegSpec(OptionRight.PUT, short - width, Side.BUY),
            LegSpec(OptionRight.CALL, call, Side.SELL),
            LegSpec(OptionRight.CALL, call + width, Side.BUY),
        )
        return candidate(
            underlying=symbol, spot=spot, legs=legs, credit=Decimal(str(credit)), iv=iv,
            expiry=expiry, at=model.clock.now(), strategy=StructureKind.IRON_CONDOR,
            max_loss_usd=(Decimal(str(width)) - Decimal(str(credit))) * 100,
        )  # fmt: skip
    # cash-secured put: max loss and capital strike × 100 − premium
    legs = (LegSpec(OptionRight.PUT, short, Side.SELL),)
    ml = Decimal(str(short)) * 100 - Decimal(str(credit)) * 100
    return candidate(
        underlying=symbol, spot=spot, legs=legs, credit=Decimal(str(credit)), iv=iv, expiry=expiry,
        at=model.clock.now(), strategy=StructureKind.CASH_SECURED_PUT, max_loss_usd=ml, capital_usd=ml,
    )  # fmt: skip


propose = st.tuples(
    st.just("propose"),
    st.sampled_from(SYMBOLS),
    st.sampled_from([0, 0, 1, 2]),
    st.sampled_from([2.5, 5.0, 10.0]),
    st.sampled_from([0.5, 1.0, 2.0]),
    st.sampled_from([0.2, 0.35, 0.6]),
    st.sampled_from(EXPIRIES),
)
ops = st.one_of(
    propose,
    propose,
    st.tuples(st.just("fill")),
    st.tuples(st.just("move"), st.sampled_from(SYMBOLS), st.sampled_from([-8.0, -3.0, 3.0, 8.0])),
    st.tuples(st.just("tick"), st.integers(1, 8)),
    st.tuples(st.just("close"), st.integers(0, 20), st.sampled_from([-300, 150])),
    st.tuples(st.just("equity"), st.sampled_from([-3000, -1500, 1500, 4000])),
)


def _new_model() -> Model:
    store = memory_store()
    clock = SimClock(NOW)
    return Model(clock=clock, service=make_service(store, clock, SETTINGS), store=store)


def _step(model: Model, op: tuple) -> None:  # type: ignore[type-arg]
    kind = op[0]
    if kind == "propose":
        _, symbol, structure, width, credit, iv, expiry = op
        if structure != 2 and credit >= width:
            return
        cand = _candidate(model, symbol, structure, width, credit, iv, expiry)
        acct = model.account()
        state = model.service.trading_state()
        decision = model.service.evaluate(cand, acct)
        if state is not TradingState.ACTIVE:
            assert not decision.approved, f"{state} approved an opening"
        if not decision.approved:
            assert decision.qty == 0 and decision.denials
            return
        assert all(r.passed for r in decision.checks)
        model.next_id += 1
        key = f"t{model.next_id}"
        position = Position(
            key=key,
            symbol=symbol,
            legs=tuple(
                LegSpec(leg.contract.right, float(leg.contract.strike), leg.side, leg.ratio)
                for leg in cand.legs
            ),
            expiry=expiry,
            iv=iv,
            qty=decision.qty,
            max_loss_usd=cand.max_loss_usd * decision.qty,
            capital_usd=cand.capital_usd * decision.qty,
            greeks_per_unit=cand.greeks,
            approved_at=model.clock.now(),
            approved_spot=cand.spot,
            decision_id=decision.decision_id,
        )
        model.positions[key] = position
        _assert_within_limits(model, position, acct)
    elif kind == "fill":
        # Approvals still reserved become open trades; expired ones never will.
        now = model.clock.now()
        model.positions = {
            k: p for k, p in model.positions.items() if p.filled or now - p.approved_at <= TTL
        }
        for p in model.positions.values():
            if p.filled:
                continue
            p.filled = True
            model.filled_count += 1
            add_trades(
                model.store,
                trade(
                    p.key,
                    underlying=p.symbol,
                    qty=p.qty,
                    max_loss_usd=p.max_loss_usd,
                    capital_usd=p.capital_usd,
                    risk_decision_id=p.decision_id,
                    opened_at=now,
                ),
            )
        model.update()
    elif kind == "move":
        _, symbol, pct = op
        model.spots[symbol] *= 1 + pct / 100
        model.update()
    elif kind == "tick":
        model.clock.advance(timedelta(minutes=op[1]))
        # Approvals that outlived the reservation never became trades: forget them.
        now = model.clock.now()
        model.positions = {
            k: p for k, p in model.positions.items() if p.filled or now - p.approved_at <= TTL
        }
        model.update()
    elif kind == "close":
        filled = [p for p in model.positions.values() if p.filled]
        if not filled:
            return
        p = filled[op[1] % len(filled)]
        update_trades(
            model.store,  # type: ignore[arg-type]
            trade(
                p.key,
                underlying=p.symbol,
                qty=p.qty,
                max_loss_usd=p.max_loss_usd,
                status=TradeStatus.CLOSED,
                opened_at=model.clock.now(),
                closed_at=model.clock.now(),
                realized_pnl=op[2],
                risk_decision_id=p.decision_id,
            ),
        )
        del model.positions[p.key]
        model.update()
    elif kind == "equity":
        model.equity = max(Decimal(50_000), model.equity + Decimal(op[1]))
        model.update()


@settings(max_examples=40, deadline=None, database=None)
@given(st.lists(ops, min_size=15, max_size=40))
def test_no_approval_takes_the_book_past_a_limit(sequence: list[tuple]) -> None:  # type: ignore[type-arg]
    model = _new_model()
    for op in sequence:
        _step(model, op)


breaker_ops = st.one_of(
    propose,
    st.tuples(st.just("halt")),
    st.tuples(st.just("resume")),
    st.tuples(st.just("kill"), st.booleans()),
    st.tuples(st.just("auth")),
    st.tuples(st.just("stale"), st.sampled_from([1.0, 5000.0])),
    st.tuples(st.just("equity"), st.sampled_from([-6000, 6000])),
    st.tuples(st.just("tick"), st.integers(1, 8)),
)


@settings(max_examples=40, deadline=None, database=None)
@given(st.lists(breaker_ops, min_size=8, max_size=25))
def test_a_halted_book_never_approves_an_opening(sequence: list[tuple]) -> None:  # type: ignore[type-arg]
    model = _new_model()
    kill = SETTINGS.risk.kill_switch_file
    kill.unlink(missing_ok=True)
    # A second service on the same store plays the CLI: its halts must bind the first.
    cli = make_service(model.store, model.clock, SETTINGS)
    try:
        for op in sequence:
            kind = op[0]
            if kind == "propose":
                _step(model, op)
            elif kind == "halt":
                cli.halt("property")
            elif kind == "resume":
                cli.resume("property")
            elif kind == "kill":
                if op[1]:
                    kill.touch()
                else:
                    kill.unlink(missing_ok=True)
            elif kind == "auth":
                model.service.record_auth_failure("401")
            elif kind == "stale":
                model.service.update(account=model.account(), marks=model.marks(), data_age_s=op[1])
            elif kind == "equity":
                model.equity = max(Decimal(50_000), model.equity + Decimal(op[1]))
                model.update()
            elif kind == "tick":
                model.clock.advance(timedelta(minutes=op[1]))
            if kind != "propose":
                state = cli.trading_state()
                cand = _candidate(model, "ZZZ", 0, 5.0, 1.0, 0.3, EXPIRIES[1])
                decision = model.service.evaluate(cand, model.account())
                if state is not TradingState.ACTIVE:
                    assert not decision.approved
                if kill.exists():
                    assert state is TradingState.HALTED and not decision.approved
    finally:
        kill.unlink(missing_ok=True)


def test_model_stress_matches_a_hand_computation() -> None:
    """The model's own re-pricing agrees with the service's view for one open trade."""
    model = _new_model()
    cand = _candidate(model, "KO", 0, 5.0, 1.0, 0.3, EXPIRIES[1])
    decision = model.service.evaluate(cand, model.account())
    assert decision.approved
    position = Position(
        key="t0",
        symbol="KO",
        legs=tuple(
            LegSpec(leg.contract.right, float(leg.contract.strike), leg.side) for leg in cand.legs
        ),
        expiry=EXPIRIES[1],
        iv=0.3,
        qty=decision.qty,
        max_loss_usd=cand.max_loss_usd * decision.qty,
        capital_usd=cand.capital_usd * decision.qty,
        greeks_per_unit=cand.greeks,
        approved_at=model.clock.now(),
        approved_spot=cand.spot,
        decision_id=decision.decision_id,
    )
    model.positions["t0"] = position
    assert np.isclose(
        _stress_worst_loss(model), model.service.view().worst_stress_loss_usd, atol=0.01
    )
