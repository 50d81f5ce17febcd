"""What the simulated market costs a process: its caches stay bounded over a multi-day run,
and it (with Risk's stress test) never loads numba (~55 MiB per process)."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, time, timedelta

from agent.adapters.sim.market import MarketModel
from agent.adapters.sim.market_config import MarketConfig
from agent.calendar import et_datetime

START = date(2026, 3, 2)


def test_day_books_and_quote_blocks_stay_bounded_across_days() -> None:
    model = MarketModel(MarketConfig(seed=3, n_underlyings=40, history_sessions=30))
    n = len(model.universe.specs)
    book_cap = max(64, 2 * n)
    sessions = model.calendar.sessions_between(START, START + timedelta(days=9))
    assert len(sessions) * n > book_cap  # the run would overflow an unbounded cache
    for day in sessions:
        for minute in (0, 120):
            when = et_datetime(day, time(10, minute % 60)) + timedelta(minutes=minute)
            for symbol in model.symbols:
                model.option_chain(
                    symbol, when, min_expiry=day, max_expiry=day + timedelta(days=60)
                )
        assert len(model._books) <= book_cap
        assert len(model._blocks) <= 64
    # today's and the previous session's books are the ones kept
    rows = {j for _, j in model._books}
    assert rows == {model.paths.row(sessions[-1]), model.paths.row(sessions[-2])}


def test_a_held_contract_requoted_in_the_same_minute_hits_the_cache() -> None:
    model = MarketModel(MarketConfig(seed=3, n_underlyings=20))
    when = et_datetime(START, time(11, 7))
    chain = model.option_chain("SPY", when, min_expiry=START, max_expiry=START + timedelta(days=60))
    block = model.quote_block("SPY", when)[1]
    top = model.top_of_book([str(chain.symbol[5])], when)
    assert model.quote_block("SPY", when)[1] is block
    assert top[str(chain.symbol[5])].ask == chain.ask[5]


def test_the_simulator_and_the_stress_test_never_load_numba() -> None:
    code = """
import sys
from datetime import date, datetime, time, timedelta
from agent.adapters.sim.market import MarketModel
from agent.adapters.sim.market_config import MarketConfig
from agent.adapters.sim.marketdata import SimMarketData
from agent.calendar import et_datetime, market_calendar
from agent.domain import OptionRight
import agent.risk.service
from agent.risk.greeks import ExposureLeg, Scenario, StressPosition, stress_pnl_usd

day = date(2026, 3, 3)
model = MarketModel(MarketConfig(seed=1, n_underlyings=12, bad_quote_rate=0.2))
for minute in (0, 30, 200):
    when = et_datetime(day, time(9, 30)) + timedelta(minutes=minute)
    for symbol in model.symbols:
        chain = model.option_chain(symbol, when, min_expiry=day, max_expiry=day + timedelta(days=400))
    model.top_of_book([str(s) for s in chain.symbol[:20]] + ["SPY"], when)
    model.underlying_snapshot("SPY", when)
    model.atm_iv("SPY", when)
leg = ExposureLeg(
    symbol="SPY260417P00500000", signed_qty=-1, right=OptionRight.PUT, strike=500.0,
    expiry=date(2026, 4, 17), iv=0.2,
)
position = StressPosition(underlying="SPY", spot=510.0, beta=1.0, legs=(leg,))
pnl = stress_pnl_usd(
    [position], [Scenario(spot_shock_pct=-10.0, vol_shock_pct=50.0)],
    at=et_datetime(day, time(12)), calendar=market_calendar(), rate=0.04,
    dividend_yields={"SPY": 0.013},
)
assert pnl[0] < 0
print(sorted(m for m in ("numba", "scipy", "agent.pricing.bsm") if m in sys.modules))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
