"""Learning from closed trades: analysis (error taxonomy), metrics, bounded parameter proposals."""

from agent.learning.analyzer import TAXONOMY, TradeAnalysis, analyze_trade
from agent.learning.learner import Proposal, propose_changes
from agent.learning.metrics import compute_metrics
from agent.learning.service import LearningService

__all__ = [
    "TAXONOMY",
    "LearningService",
    "Proposal",
    "TradeAnalysis",
    "analyze_trade",
    "compute_metrics",
    "propose_changes",
]
