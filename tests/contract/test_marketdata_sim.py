"""The MarketData contract against the embedded simulator."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from agent.adapters.sim.marketdata import SimMarketData
from agent.clock import SimClock
from agent.config import AgentSettings
from agent.ports import MarketData
from tests.contract.marketdata_contract import MarketDataContract

START = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)  # Wednesday 10:00 ET


class SimHarness:
    def __init__(self, settings: AgentSettings) -> None:
        self.clock = SimClock(START)
        self._data = SimMarketData.from_settings(settings, self.clock)

    @property
    def market_data(self) -> MarketData:
        return self._data

    def symbols(self) -> Sequence[str]:
        return ["SPY", "AAPL", "KO", "SIM001"]

    def now(self) -> datetime:
        return self.clock.now()

    def advance(self, minutes: int) -> None:
        self.clock.advance(timedelta(minutes=minutes))


@pytest.fixture(scope="module")
def _sim_settings(tmp_path_factory: pytest.TempPathFactory) -> AgentSettings:
    from agent.config import load_settings

    tmp = tmp_path_factory.mktemp("contract")
    empty = tmp / "empty.yaml"
    empty.touch()
    return load_settings(empty, ["sim.n_underlyings=24"], env_file=None, environ={})


class TestSimMarketData(MarketDataContract):
    @pytest.fixture
    def harness(self, _sim_settings: AgentSettings) -> SimHarness:  # type: ignore[override]
        return SimHarness(_sim_settings)
