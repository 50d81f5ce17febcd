"""Builders for the monitor's unit tests: legs, trades, quotes, a synthetic chain priced with
our own kernels, a fake market data source, and a service on a real SQLite store."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np

from agent.adapters.persistence import SqlStore, open_store
from agent.calendar import market_calendar
from agent.clock import SimClock
from agent.config import AgentSettings, load_settings
from agent.domain import (
    AlertLevel,
    Bar,
    MarketContext,
    OptionChain,
    OptionRight,
    PositionLeg,
    Quote,
    Side,
    StructureKind,
    Trade,
    TradeStatus,
    UnderlyingSnapshot,
    format_occ,
)
from agent.marketdata.service import MarketDataService
from agent.monitor import MonitorService
from agent.ports import ChainEnricher
from agent.pricing.bsm import bs_price
from agent.pricing.chain import time_to_expiry_years

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
"""Monday 2 March 2026, 10:00 ET."""
EXPIRY = date(2026, 3, 20)
RATE = 0.04
SYMBOL = "XYZ"

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
            f"market_data.risk_free_rate={RATE}",
            *overrides,
        ],
        env_file=None,
        environ={},
    )


def occ(strike: float, right: OptionRight = OptionRight.PUT, expiry: date = EXPIRY) -> str:
    return format_occ(SYMBOL, expiry, right, Decimal(repr(strike)))


def leg(
    trade_id: str,
    strike: float | None,
    side: Side,
    *,
    qty: int = 1,
    entry: str = "1.00",
    right: OptionRight | None = OptionRight.PUT,
    expiry: date = EXPIRY,
) -> PositionLeg:
    if strike is None or right is None:
        symbol, right, strike_dec, exp = SYMBOL, None, None, None
    else:
        symbol = occ(strike, right, expiry)
        strike_dec, exp = Decimal(repr(strike)), expiry
    return PositionLeg(
        position_id=f"{trade_id}:{symbol}",
        trade_id=trade_id,
        symbol=symbol,
        underlying=SYMBOL,
        right=right,
        strike=strike_dec,
        expiry=exp,
        side=side,
        qty=qty,
        entry_price=Decimal(entry),
        opened_at=NOW - timedelta(days=3),
    )


def trade(
    kind: StructureKind = StructureKind.BULL_PUT_SPREAD,
    *,
    trade_id: str | None = None,
    qty: int = 1,
    entry_net: str | None = "-1.00",
    status: TradeStatus = TradeStatus.OPEN,
) -> Trade:
    return Trade(
        trade_id=trade_id or f"t{next(_ids)}",
        underlying=SYMBOL,
        strategy=kind,
        status=status,
        qty=qty,
        opened_at=NOW - timedelta(days=3),
        entry_net_price=None if entry_net is None else Decimal(entry_net),
        max_loss_usd=Decimal(400) * qty,
        capital_usd=Decimal(400) * qty,
    )


def quote(symbol: str, bid: float, ask: float, *, at: datetime = NOW) -> Quote:
    return Quote(symbol=symbol, bid=bid, ask=ask, bid_size=10, ask_size=10, quoted_at=at)


def model_quote(
    strike: float,
    right: OptionRight,
    *,
    spot: float,
    iv: float,
    expiry: date = EXPIRY,
    at: datetime = NOW,
    dividend_yield: float = 0.0,
    half_spread: float = 0.02,
) -> tuple[float, float]:
    """A (bid, ask) around our own kernel's price, in cents."""
    years = time_to_expiry_years(at, expiry)
    price = float(
        bs_price(spot, strike, years, RATE, dividend_yield, iv, right is OptionRight.CALL)
    )
    bid = max(round(price - half_spread, 2), 0.0)
    ask = round(price + half_spread, 2)
    return bid, ask


def synthetic_chain(
    *,
    spot: float,
    expiries: Sequence[date],
    strikes: Iterable[float],
    at: datetime = NOW,
    iv: float = 0.25,
    skew: float = 0.0,
    half_spread: float = 0.02,
    open_interest: float = 5000.0,
    volume: float = 1000.0,
) -> OptionChain:
    """Every strike × expiry × right quoted around our kernel's price (fresh, liquid)."""
    rows: dict[str, list[object]] = {k: [] for k in ("symbol", "expiry", "strike", "is_call")}
    bids: list[float] = []
    asks: list[float] = []
    strike_list = list(strikes)
    for expiry in expiries:
        for strike in strike_list:
            for right in (OptionRight.PUT, OptionRight.CALL):
                vol = iv * (1.0 + skew * (spot - strike) / spot)
                bid, ask = model_quote(
                    strike, right, spot=spot, iv=vol, expiry=expiry, at=at, half_spread=half_spread
                )
                if ask <= 0.0:
                    continue
                rows["symbol"].append(occ(strike, right, expiry))
                rows["expiry"].append(np.datetime64(expiry, "D"))
                rows["strike"].append(strike)
                rows["is_call"].append(right is OptionRight.CALL)
                bids.append(bid)
                asks.append(ask)
    n = len(bids)
    return OptionChain.from_columns(
        underlying=SYMBOL,
        as_of=at,
        symbol=rows["symbol"],
        expiry=rows["expiry"],
        strike=rows["strike"],
        is_call=rows["is_call"],
        bid=bids,
        ask=asks,
        bid_size=[10.0] * n,
        ask_size=[10.0] * n,
        volume=[volume] * n,
        open_interest=[open_interest] * n,
        quote_time_s=[at.timestamp()] * n,
    )


@dataclass
class FakeMarketData:
    """A MarketData port over fixed values (what each test sets)."""

    clock: SimClock
    spot: float = 100.0
    spread: float = 0.02
    quotes: dict[str, Quote] = field(default_factory=dict)
    chain: OptionChain | None = None
    calls: list[str] = field(default_factory=list)

    def get_underlying_snapshots(self, symbols: Sequence[str]) -> dict[str, UnderlyingSnapshot]:
        self.calls.append("snapshots")
        now = self.clock.now()
        return {
            s: UnderlyingSnapshot(
                symbol=s,
                price=self.spot,
                bid=round(self.spot - self.spread / 2, 2),
                ask=round(self.spot + self.spread / 2, 2),
                day_volume=1e6,
                prev_close=self.spot,
                avg_daily_volume=1e7,
                as_of=now,
            )
            for s in symbols
            if s == SYMBOL
        }

    def get_daily_bars(self, symbol: str, *, start: date, end: date) -> list[Bar]:
        return []

    def get_option_chain(
        self, underlying: str, *, min_expiry: date, max_expiry: date
    ) -> OptionChain:
        assert self.chain is not None
        return self.chain

    def get_option_quotes(self, symbols: Sequence[str]) -> dict[str, Quote]:
        self.calls.append("quotes")
        return {s: self.quotes[s] for s in symbols if s in self.quotes}

    def get_iv_history(self, symbol: str, *, start: date, end: date) -> list[tuple[date, float]]:
        return []

    def get_market_context(self, *, start: date, end: date) -> MarketContext:
        return MarketContext(as_of=self.clock.now(), vol_index=18.0, events=())


class RecordingAlerts:
    def __init__(self) -> None:
        self.sent: list[tuple[AlertLevel, str, str]] = []

    def send(self, *, level: AlertLevel, title: str, body: str) -> None:
        self.sent.append((level, title, body))


@dataclass
class Desk:
    """A monitor on a real store over fake market data."""

    settings: AgentSettings
    clock: SimClock
    store: SqlStore
    data: FakeMarketData
    alerts: RecordingAlerts
    service: MonitorService

    def add(self, t: Trade, legs: Sequence[PositionLeg]) -> None:
        with self.store.transaction() as tx:
            tx.trades.add(t)
            for position in legs:
                tx.positions.upsert(position)

    def position(self, position_id: str) -> PositionLeg:
        with self.store.transaction() as tx:
            found = tx.positions.get(position_id)
        assert found is not None
        return found


def make_desk(
    tmp: Path, *overrides: str, at: datetime = NOW, enrich: ChainEnricher | None = None
) -> Desk:
    settings = make_settings(tmp, *overrides)
    clock = SimClock(at)
    store = open_store(settings.database_url)
    data = FakeMarketData(clock=clock)
    calendar = market_calendar()
    market = MarketDataService(
        market_data=data, store=store, clock=clock, settings=settings, calendar=calendar
    )
    alerts = RecordingAlerts()
    service = MonitorService(
        market=market,
        store=store,
        clock=clock,
        settings=settings,
        alerts=alerts,
        calendar=calendar,
        enrich=enrich,
    )
    return Desk(
        settings=settings, clock=clock, store=store, data=data, alerts=alerts, service=service
    )
