"""Paper mode on Ray against the loopback Alpaca-compatible server: the Governor actor holds
the trading and data budgets, MarketData/Execution/Monitor reach Alpaca through the real
adapters with ``GovernorLimiter`` proxies, and a scan cycle runs end to end."""

from __future__ import annotations

import asyncio
import os
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from actors.governor import DATA, TRADING
from actors.handles import get
from actors.system import AgentSystem
from agent.adapters.sim.server import ServerThread, build_app, build_backend
from agent.clock import SystemClock
from agent.config import load_settings
from agent.domain import Mode
from agent.engine import Engine
from tests.integration.alpaca.harness import API_KEY, SECRET_KEY, market

pytestmark = [pytest.mark.ray, pytest.mark.timeout(300)]

WATCHLIST = ["SPY", "QQQ", "IWM", "AAPL", "MSFT", "KO"]


def test_scan_cycle_through_the_shared_budgets(ray_local: None, tmp_path: Path) -> None:
    backend = build_backend(market(), clock=SystemClock(), initial_cash_usd=Decimal(100_000))
    server = ServerThread(build_app(backend, api_key=API_KEY, secret_key=SECRET_KEY)).start()
    settings = load_settings(
        os.devnull,
        [
            f"database_url=sqlite:///{tmp_path / 'optagent.db'}",
            f"logging.dir={tmp_path / 'log'}",
            f"logging.journal_file={tmp_path / 'log' / 'journal.jsonl'}",
            f"risk.kill_switch_file={tmp_path / 'KILL'}",
            f"ray.namespace=paper-{uuid.uuid4().hex[:8]}",
            "ray.num_scanners=1",
            f"universe.watchlist={WATCHLIST}",
            "logging.level=WARNING",
        ],
        env_file=None,
        environ={
            "OPTAGENT_MODE": "paper",
            "ALPACA_API_KEY": API_KEY,
            "ALPACA_SECRET_KEY": SECRET_KEY,
            "ALPACA_BASE_URL": server.url,
            "ALPACA_DATA_URL": server.url + "/",
        },
    )
    system = AgentSystem.start(settings, loops=False)
    try:
        assert system.settings.mode is Mode.PAPER
        assert system.handles.exchange is None and system.handles.governor is not None
        services = system.services()
        account = asyncio.run(services.account())
        assert account.equity == Decimal(100_000)
        report = asyncio.run(
            Engine(services).scan_cycle(system.symbols, system.clock.now(), submit=False)
        )
        stats = get(system.handles.governor.stats(), timeout_s=30)
    finally:
        system.shutdown()
        server.stop()
    assert system.symbols == tuple(WATCHLIST)
    assert [s.underlying for s in report.scans] == WATCHLIST
    # Every request of every actor went through the one Governor, per budget.
    assert stats[DATA]["granted"] >= len(WATCHLIST)  # snapshots, chains, quotes, bars
    assert stats[TRADING]["granted"] >= 2  # start-up reconcile, account, contract listings
