"""The backtest: the real engine over the simulator with a stepped clock, deterministic."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from agent.backtest import Backtest
from agent.domain import PositionStatus, Side, TradeStatus
from tests.conftest import make_settings


def run_once(directory: Path) -> tuple[object, ...]:
    settings = make_settings(
        directory,
        "sim.n_underlyings=8",
        "universe.watchlist=[SPY, QQQ, IWM, AAPL, MSFT, KO, BAC, XOM]",
        "universe.min_iv_rank=0",
    )
    backtest = Backtest(settings, days=1)
    result = backtest.run()
    with backtest.world.store.transaction() as tx:
        trades = tx.trades.list()
        fills = tx.fills.list()
        legs = tx.positions.list(status=PositionStatus.OPEN)
        pnl_from_fills = {
            t.trade_id: sum(
                (
                    f.price
                    * f.qty
                    * (100 if len(f.symbol) > 6 else 1)
                    * (1 if f.side is Side.SELL else -1)
                    for f in tx.fills.list(trade_id=t.trade_id)
                ),
                Decimal(0),
            )
            for t in trades
            if t.status is TradeStatus.CLOSED
        }
    # The book equals the broker, and each closed trade's P&L is the sum of its fills.
    ours: dict[str, int] = {}
    for leg in legs:
        ours[leg.symbol] = ours.get(leg.symbol, 0) + leg.signed_qty
    broker = {p.symbol: p.qty for p in backtest.world.broker.get_positions()}
    assert {s: q for s, q in ours.items() if q} == broker
    for trade in trades:
        if trade.status is TradeStatus.CLOSED:
            assert pnl_from_fills[trade.trade_id] == trade.realized_pnl
    fill_tape = sorted((f.symbol, f.side.value, f.qty, f.price, f.filled_at) for f in fills)
    return (
        result.trades_opened,
        result.trades_closed,
        result.fills,
        result.realized_pnl_usd,
        result.equity_end_usd,
        fill_tape,
    )


def test_a_day_of_backtest_trades_and_is_deterministic(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = run_once(tmp_path / "a")
    assert first[0] > 0 and first[2] > 0  # it traded
    # An independent run (fresh database and exchange) gives identical trades and fills.
    assert run_once(tmp_path / "b") == first
