"""Alpaca adapters: the only package that imports alpaca-py (import-linter enforces it)."""

from agent.adapters.alpaca.broker import AlpacaBroker
from agent.adapters.alpaca.marketdata import AlpacaMarketData
from agent.adapters.alpaca.transport import RetryPolicy, TransportStats

__all__ = ["AlpacaBroker", "AlpacaMarketData", "RetryPolicy", "TransportStats"]
