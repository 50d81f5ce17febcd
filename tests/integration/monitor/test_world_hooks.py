"""The pieces the scenarios stand on: the simulator's scripted spot, stock quotes through the
market data service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.adapters.sim.market import MarketModel, market_config_from_settings
from agent.adapters.sim.scenario import ScriptedSpot
from agent.domain import is_option_symbol
from tests.integration.monitor.harness import MONDAY, et, make_scenario, make_settings


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> MarketModel:
    settings = make_settings(tmp_path_factory.mktemp("hook"))
    return MarketModel(market_config_from_settings(settings))


def test_scripted_path_is_linear_between_points_and_held_after() -> None:
    script = ScriptedSpot()
    t0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    script.set_path("SPY", [(t0, 100.0), (t0 + timedelta(minutes=10), 110.0)])
    assert script("SPY", t0 - timedelta(minutes=1)) is None  # before: the model's own
    assert script("SPY", t0) == 100.0
    assert script("SPY", t0 + timedelta(minutes=5)) == 105.0
    assert script("SPY", t0 + timedelta(days=3)) == 110.0
    assert script("QQQ", t0) is None
    with pytest.raises(ValueError):
        script.set_path("SPY", [(t0, 0.0)])


def test_spot_quotes_and_chain_follow_the_script(model: MarketModel) -> None:
    at = et(MONDAY, 11)
    natural = model.spot("SPY", at)
    chain_before = model.option_chain(
        "SPY", at, min_expiry=MONDAY, max_expiry=MONDAY + timedelta(days=20)
    )
    script = ScriptedSpot()
    script.glide(model, "SPY", start=at - timedelta(minutes=30), to=[(at, natural * 0.95)])
    try:
        assert model.spot("SPY", at) == pytest.approx(natural * 0.95, abs=0.01)
        assert model.spot("SPY", at - timedelta(minutes=30)) == pytest.approx(
            model.paths.intraday(model.paths.row(MONDAY), 0).prices[60], abs=0.01
        )
        snapshot = model.underlying_snapshot("SPY", at)
        assert snapshot.bid <= snapshot.price <= snapshot.ask
        assert snapshot.price == pytest.approx(natural * 0.95, abs=0.01)
        chain_after = model.option_chain(
            "SPY", at, min_expiry=MONDAY, max_expiry=MONDAY + timedelta(days=20)
        )
        puts = ~chain_after.is_call
        # the same contracts, repriced: puts are dearer after the drop
        assert list(chain_after.symbol) == list(chain_before.symbol)
        assert (chain_after.ask[puts] >= chain_before.ask[puts]).all()
        put = str(chain_after.symbol[puts][len(chain_after.symbol[puts]) // 2])
        top = model.top_of_book([put, "SPY"], at)
        row = list(chain_after.symbol).index(put)
        assert top[put].bid == chain_after.bid[row] and top[put].ask == chain_after.ask[row]
        assert top["SPY"].bid == snapshot.bid
        # the exchange settles against the scripted close
        close = model.calendar.session(MONDAY)
        assert close is not None
        assert model.underlying_price("SPY", close.close_at) == pytest.approx(
            natural * 0.95, abs=0.01
        )
    finally:
        model.set_spot_override(None)
    assert model.spot("SPY", at) == natural


def test_market_data_service_quotes_stock_from_snapshots(tmp_path: Path) -> None:
    sc = make_scenario(tmp_path)
    try:
        market = sc.services.market
        chain = market.chain("XLF")
        option = str(chain.symbol[0])
        quotes = market.quotes([option, "XLF"])
        assert set(quotes) == {option, "XLF"}
        snapshot = sc.world.market_data.get_underlying_snapshots(["XLF"])["XLF"]
        assert (quotes["XLF"].bid, quotes["XLF"].ask) == (snapshot.bid, snapshot.ask)
        assert is_option_symbol(option) and not is_option_symbol("XLF")
    finally:
        sc.close()
