"""Execution: order intents, client order ids, the price walker, the order state machine,
fills and slippage, the book, reconciliation and dry run (``docs/execution.md``)."""

from agent.execution.records import QuoteProvider
from agent.execution.retry import RetryPolicy
from agent.execution.service import ExecutionService

__all__ = ["ExecutionService", "QuoteProvider", "RetryPolicy"]
