"""Backtest: the same services and engine over the simulator with a stepped clock."""

from agent.backtest.engine import Backtest, BacktestResult, scheduled_events

__all__ = ["Backtest", "BacktestResult", "scheduled_events"]
