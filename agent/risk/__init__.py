"""Risk: pre-trade limits, sizing, greek and stress budgets, breakers and the trading state.

:class:`RiskService` is the single writer of risk state and the gate every opening and roll
passes; its answers are :class:`agent.domain.RiskDecision` values with the reasons. The pure
parts — :mod:`agent.risk.rules`, :mod:`agent.risk.sizing`, :mod:`agent.risk.greeks`,
:mod:`agent.risk.breakers` — are usable and tested on their own. See docs/risk.md.
"""

from agent.risk.breakers import BREAKERS, BreakerName, ClearRule
from agent.risk.service import APPROVALS_KEY, MARKS_KEY, STATE_KEY, RiskService
from agent.risk.view import BreakerLine, ExposureLine, GreekLine, LimitUsage, RiskView, StressLine

__all__ = [
    "APPROVALS_KEY",
    "BREAKERS",
    "MARKS_KEY",
    "STATE_KEY",
    "BreakerLine",
    "BreakerName",
    "ClearRule",
    "ExposureLine",
    "GreekLine",
    "LimitUsage",
    "RiskService",
    "RiskView",
    "StressLine",
]
