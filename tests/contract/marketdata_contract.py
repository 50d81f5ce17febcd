"""The MarketData contract: what every ``agent.ports.MarketData`` implementation must do.

Written against the port only, plus a small harness, so the same tests run against the
simulator (``test_marketdata_sim.py``) and later against the Alpaca adapter talking to a
loopback Alpaca-compatible server. A concrete test class subclasses
:class:`MarketDataContract` and provides a ``harness`` fixture.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Protocol

import numpy as np
import pytest

from agent.domain.contracts import parse_occ
from agent.domain.enums import OptionRight
from agent.domain.market import CHAIN_COLUMNS, MarketEventKind, OptionChain
from agent.errors import DataError
from agent.ports import MarketData

UNKNOWN_SYMBOL = "ZZZZQ"
UNKNOWN_OPTION = "ZZZZQ260320P00050000"


class MarketDataHarness(Protocol):
    """What a contract run needs besides the port."""

    @property
    def market_data(self) -> MarketData: ...

    def symbols(self) -> Sequence[str]:
        """Underlyings that have options (at least three)."""
        ...

    def now(self) -> datetime:
        """The source's current time (aware), during a regular session."""
        ...

    def advance(self, minutes: int) -> None:
        """Move the source's time forward (stays within the session for small steps)."""
        ...


def _window(harness: MarketDataHarness, days: int = 45) -> tuple[date, date]:
    today = harness.now().date()
    return today, today + timedelta(days=days)


class MarketDataContract:
    """Subclass (as ``Test...``) and provide a ``harness`` fixture."""

    @pytest.fixture
    def harness(self) -> MarketDataHarness:
        raise NotImplementedError

    # ------------------------------------------------------------------ snapshots

    def test_snapshots_have_sane_fields(self, harness: MarketDataHarness) -> None:
        symbols = list(harness.symbols())[:5]
        snapshots = harness.market_data.get_underlying_snapshots(symbols)
        assert set(snapshots) == set(symbols)
        for symbol, snap in snapshots.items():
            assert snap.symbol == symbol
            assert snap.price > 0 and snap.prev_close > 0
            assert 0 < snap.bid <= snap.ask
            mid = (snap.bid + snap.ask) / 2
            assert abs(snap.price - mid) / mid < 0.02
            assert snap.day_volume >= 0
            assert math.isnan(snap.avg_daily_volume) or snap.avg_daily_volume > 0
            assert snap.as_of.tzinfo is not None and snap.as_of <= harness.now()
            assert snap.spread_pct >= 0

    def test_unknown_symbols_are_absent_from_snapshots(self, harness: MarketDataHarness) -> None:
        known = harness.symbols()[0]
        snapshots = harness.market_data.get_underlying_snapshots([known, UNKNOWN_SYMBOL])
        assert set(snapshots) == {known}
        assert harness.market_data.get_underlying_snapshots([]) == {}

    def test_snapshots_move_with_time(self, harness: MarketDataHarness) -> None:
        symbols = list(harness.symbols())[:5]
        before = harness.market_data.get_underlying_snapshots(symbols)
        harness.advance(30)
        after = harness.market_data.get_underlying_snapshots(symbols)
        assert all(after[s].as_of > before[s].as_of for s in symbols)
        assert any(after[s].price != before[s].price for s in symbols)
        assert all(after[s].day_volume >= before[s].day_volume for s in symbols)

    # ------------------------------------------------------------------ chains

    def test_chain_columns_are_consistent(self, harness: MarketDataHarness) -> None:
        start, end = _window(harness)
        symbol = harness.symbols()[0]
        chain = harness.market_data.get_option_chain(symbol, min_expiry=start, max_expiry=end)
        assert isinstance(chain, OptionChain) and chain.underlying == symbol
        n = len(chain)
        assert n > 20
        for name in CHAIN_COLUMNS:
            assert len(getattr(chain, name)) == n, name
        assert chain.symbol.dtype.kind == "U"
        assert chain.expiry.dtype == np.dtype("datetime64[D]")
        assert chain.is_call.dtype == np.bool_
        for name in CHAIN_COLUMNS[4:]:
            assert getattr(chain, name).dtype == np.float64, name
        assert chain.as_of.tzinfo is not None
        assert (chain.strike > 0).all()
        assert len(set(chain.symbol.tolist())) == n

    def test_chain_expiries_lie_in_the_requested_range(self, harness: MarketDataHarness) -> None:
        start, end = _window(harness, 40)
        for symbol in list(harness.symbols())[:3]:
            chain = harness.market_data.get_option_chain(symbol, min_expiry=start, max_expiry=end)
            expiries = chain.expiries()
            assert expiries, symbol
            assert all(start <= e <= end for e in expiries)
        narrow_end = start + timedelta(days=10)
        symbol = harness.symbols()[0]
        wide = harness.market_data.get_option_chain(symbol, min_expiry=start, max_expiry=end)
        narrow = harness.market_data.get_option_chain(
            symbol, min_expiry=start, max_expiry=narrow_end
        )
        assert set(narrow.symbol.tolist()) <= set(wide.symbol.tolist())
        assert all(e <= narrow_end for e in narrow.expiries())

    def test_occ_symbols_match_strike_expiry_and_right(self, harness: MarketDataHarness) -> None:
        start, end = _window(harness)
        symbol = harness.symbols()[1]
        chain = harness.market_data.get_option_chain(symbol, min_expiry=start, max_expiry=end)
        for k in range(len(chain)):
            contract = parse_occ(str(chain.symbol[k]))
            assert contract.underlying == symbol
            assert contract.expiry == chain.expiry[k].astype(date)
            assert float(contract.strike) == pytest.approx(chain.strike[k])
            assert (contract.right is OptionRight.CALL) == bool(chain.is_call[k])

    def test_chain_quotes_are_mostly_usable(self, harness: MarketDataHarness) -> None:
        start, end = _window(harness)
        chain = harness.market_data.get_option_chain(
            harness.symbols()[0], min_expiry=start, max_expiry=end
        )
        quoted = np.isfinite(chain.bid) & np.isfinite(chain.ask)
        assert quoted.mean() > 0.9
        assert (chain.bid[quoted] >= 0).all() and (chain.ask[quoted] >= 0).all()
        assert (chain.bid[quoted] <= chain.ask[quoted]).mean() > 0.95  # a few bad quotes allowed
        oi = chain.open_interest[np.isfinite(chain.open_interest)]
        volume = chain.volume[np.isfinite(chain.volume)]
        assert (oi >= 0).all() and (volume >= 0).all()
        assert (
            chain.quote_time_s[np.isfinite(chain.quote_time_s)] <= harness.now().timestamp()
        ).all()
        iv = chain.vendor_iv[np.isfinite(chain.vendor_iv)]
        assert (iv > 0).all() and (iv < 5).all()
        delta = chain.vendor_delta[np.isfinite(chain.vendor_delta)]
        assert (np.abs(delta) <= 1.0 + 1e-9).all()

    def test_chain_of_an_unknown_symbol_raises_data_error(self, harness: MarketDataHarness) -> None:
        start, end = _window(harness)
        with pytest.raises(DataError):
            harness.market_data.get_option_chain(UNKNOWN_SYMBOL, min_expiry=start, max_expiry=end)

    def test_empty_expiry_range_gives_an_empty_chain(self, harness: MarketDataHarness) -> None:
        today = harness.now().date()
        chain = harness.market_data.get_option_chain(
            harness.symbols()[0],
            min_expiry=today + timedelta(days=3000),
            max_expiry=today + timedelta(days=3001),
        )
        assert len(chain) == 0

    # ------------------------------------------------------------------ quotes

    def test_quotes_for_chain_symbols(self, harness: MarketDataHarness) -> None:
        start, end = _window(harness)
        chain = harness.market_data.get_option_chain(
            harness.symbols()[0], min_expiry=start, max_expiry=end
        )
        wanted = [str(s) for s in chain.symbol[:: max(1, len(chain) // 15)]]
        quotes = harness.market_data.get_option_quotes([*wanted, UNKNOWN_OPTION])
        assert set(quotes) == set(wanted)
        for symbol, quote in quotes.items():
            assert quote.symbol == symbol
            assert quote.bid >= 0 and quote.ask >= 0
            assert quote.bid_size >= 0 and quote.ask_size >= 0
            assert quote.quoted_at.tzinfo is not None and quote.quoted_at <= harness.now()
        assert harness.market_data.get_option_quotes([]) == {}

    # ------------------------------------------------------------------ bars and IV

    def test_daily_bars_ascend_and_are_consistent(self, harness: MarketDataHarness) -> None:
        end = harness.now().date()
        start = end - timedelta(days=120)
        bars = harness.market_data.get_daily_bars(harness.symbols()[0], start=start, end=end)
        assert len(bars) > 60
        times = [b.start_at for b in bars]
        assert times == sorted(times) and len(set(times)) == len(times)
        for bar in bars:
            assert bar.start_at.tzinfo is not None
            assert start <= bar.start_at.date() <= end
            assert bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high
            assert bar.low > 0 and bar.volume >= 0
        assert bars[-1].start_at <= harness.now()

    def test_daily_bars_of_an_unknown_symbol(self, harness: MarketDataHarness) -> None:
        end = harness.now().date()
        try:
            bars = harness.market_data.get_daily_bars(
                UNKNOWN_SYMBOL, start=end - timedelta(days=30), end=end
            )
        except DataError:
            return
        assert bars == []

    def test_iv_history_is_ascending_and_positive(self, harness: MarketDataHarness) -> None:
        end = harness.now().date()
        start = end - timedelta(days=200)
        history = harness.market_data.get_iv_history(harness.symbols()[0], start=start, end=end)
        days = [d for d, _ in history]
        assert days == sorted(days) and len(set(days)) == len(days)
        assert all(start <= d <= end for d in days)
        assert all(math.isfinite(v) and 0 < v < 5 for _, v in history)

    # ------------------------------------------------------------------ context

    def test_market_context(self, harness: MarketDataHarness) -> None:
        start = harness.now().date() - timedelta(days=5)
        end = start + timedelta(days=120)
        context = harness.market_data.get_market_context(start=start, end=end)
        assert context.as_of.tzinfo is not None
        assert math.isnan(context.vol_index) or 5.0 < context.vol_index < 150.0
        for event in context.events:
            assert start <= event.on <= end
            assert isinstance(event.kind, MarketEventKind)
            if event.kind is MarketEventKind.EARNINGS:
                assert event.symbol
            if event.kind is MarketEventKind.FOMC:
                assert event.symbol is None
