"""The MarketData contract run against AlpacaMarketData over the loopback server, and the
adapter's answers compared with the simulator's own (the server serves that simulator, so the
two must agree field by field: anything lost or bent on the way through Alpaca's JSON and
alpaca-py shows up here)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from agent.adapters.alpaca import AlpacaMarketData
from agent.adapters.sim.marketdata import SimMarketData
from agent.domain import MarketEventKind
from agent.ports import MarketData
from tests.contract.marketdata_contract import MarketDataContract, MarketDataHarness
from tests.integration.alpaca.harness import (
    START,
    LoopbackServer,
    ServerClock,
    make_market_data,
    market,
    settings_for,
    start_server,
)

SYMBOLS = ("SPY", "AAPL", "KO", "SIM001")


def _model():  # type: ignore[no-untyped-def]
    return market(n_underlyings=24, bad_quote_rate=0.01)


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    running = start_server(model=_model())
    yield running
    running.stop()


class LoopbackDataHarness:
    def __init__(self, server: LoopbackServer) -> None:
        self.server = server
        self._data = make_market_data(server)

    @property
    def market_data(self) -> MarketData:
        return self._data

    def symbols(self) -> Sequence[str]:
        return SYMBOLS

    def now(self) -> datetime:
        return self.server.now()

    def advance(self, minutes: int) -> None:
        self.server.advance(minutes)


class TestAlpacaMarketDataOverLoopback(MarketDataContract):
    @pytest.fixture
    def harness(self, server: LoopbackServer) -> MarketDataHarness:  # type: ignore[override]
        server.reset(START)
        return LoopbackDataHarness(server)


# --------------------------------------------------------------------------- equivalence


@pytest.fixture
def pair(server: LoopbackServer) -> tuple[AlpacaMarketData, SimMarketData]:
    server.reset(START)
    return make_market_data(server), SimMarketData(_model(), ServerClock(server))


def test_chain_equals_the_simulators(pair: tuple[AlpacaMarketData, SimMarketData]) -> None:
    alpaca, sim = pair
    today = START.date()
    for symbol in SYMBOLS:
        ours = alpaca.get_option_chain(
            symbol, min_expiry=today, max_expiry=today + timedelta(days=45)
        )
        theirs = sim.get_option_chain(
            symbol, min_expiry=today, max_expiry=today + timedelta(days=45)
        )
        order = np.argsort(theirs.symbol)
        theirs = theirs.take(order)
        assert ours.symbol.tolist() == theirs.symbol.tolist()
        assert (ours.expiry == theirs.expiry).all() and (ours.is_call == theirs.is_call).all()
        for name in ("strike", "bid", "ask", "last", "bid_size", "ask_size", "volume",
                     "open_interest", "quote_time_s", "vendor_iv", "vendor_delta",
                     "vendor_gamma", "vendor_theta", "vendor_vega"):  # fmt: skip
            a, b = getattr(ours, name), getattr(theirs, name)
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-9, equal_nan=True, err_msg=name)
        # The contract's missing-data cases really occur and survive the trip as NaN.
        assert np.isnan(ours.vendor_delta).any() and np.isnan(ours.last).any()


def test_snapshots_and_bars_equal_the_simulators(
    pair: tuple[AlpacaMarketData, SimMarketData],
) -> None:
    alpaca, sim = pair
    ours = alpaca.get_underlying_snapshots(list(SYMBOLS))
    theirs = sim.get_underlying_snapshots(list(SYMBOLS))
    for symbol in SYMBOLS:
        a, b = ours[symbol], theirs[symbol]
        assert (a.price, a.bid, a.ask, a.day_volume, a.prev_close, a.as_of) == (
            b.price, b.bid, b.ask, b.day_volume, b.prev_close, b.as_of,
        )  # fmt: skip
        assert a.avg_daily_volume == pytest.approx(b.avg_daily_volume, rel=1e-12)
    end = START.date()
    start = end - timedelta(days=90)
    bars_a = alpaca.get_daily_bars("AAPL", start=start, end=end)
    bars_b = sim.get_daily_bars("AAPL", start=start, end=end)
    assert [(x.open, x.high, x.low, x.close, x.volume) for x in bars_a] == [
        (x.open, x.high, x.low, x.close, x.volume) for x in bars_b
    ]
    assert [x.start_at.date() for x in bars_a] == [x.start_at.date() for x in bars_b]


def test_quotes_equal_the_simulators(
    pair: tuple[AlpacaMarketData, SimMarketData], server: LoopbackServer
) -> None:
    alpaca, sim = pair
    server.advance(17)
    chain = sim.get_option_chain(
        "KO", min_expiry=START.date(), max_expiry=START.date() + timedelta(days=30)
    )
    symbols = [str(s) for s in chain.symbol[:150]]  # more than one request of 100
    assert alpaca.get_option_quotes(symbols) == sim.get_option_quotes(symbols)


def test_average_volume_is_fetched_once_a_day(
    pair: tuple[AlpacaMarketData, SimMarketData], server: LoopbackServer
) -> None:
    alpaca, _ = pair
    alpaca.get_underlying_snapshots(list(SYMBOLS))
    server.advance(5)
    alpaca.get_underlying_snapshots(list(SYMBOLS))
    requests = server.stats()["requests"]
    assert requests["GET /v2/stocks/snapshots"] == 2
    assert requests["GET /v2/stocks/bars"] == 1


def test_iv_history_is_empty_and_context_comes_from_the_events_file(
    server: LoopbackServer, tmp_path: Path
) -> None:
    events = tmp_path / "events.yaml"
    events.write_text(
        "earnings:\n  AAPL: [2026-04-30, 2026-07-30]\n  KO: ['2026-03-10']\nfomc: [2026-03-18]\n",
        encoding="utf-8",
    )
    settings = settings_for(server.url, f"universe.events_file={events}")
    data = make_market_data(server, settings=settings)
    assert data.get_iv_history("SPY", start=date(2025, 1, 1), end=date(2026, 3, 1)) == []
    context = data.get_market_context(start=date(2026, 3, 1), end=date(2026, 5, 1))
    assert math.isnan(context.vol_index)
    assert [(e.kind, e.on, e.symbol) for e in context.events] == [
        (MarketEventKind.EARNINGS, date(2026, 3, 10), "KO"),
        (MarketEventKind.FOMC, date(2026, 3, 18), None),
        (MarketEventKind.EARNINGS, date(2026, 4, 30), "AAPL"),
    ]


def test_a_broken_events_file_is_a_config_error(server: LoopbackServer, tmp_path: Path) -> None:
    from agent.errors import ConfigError

    events = tmp_path / "events.yaml"
    events.write_text("fomc: [not-a-date]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="fomc"):
        AlpacaMarketData.from_settings(
            settings_for(server.url, f"universe.events_file={events}"), server_limiter()
        )


def server_limiter():  # type: ignore[no-untyped-def]
    from tests.integration.alpaca.harness import unlimited

    return unlimited()
