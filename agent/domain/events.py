"""Events: things that happened and that a user or the learner should know about."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from agent.domain.enums import AlertLevel


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    event_id: str
    kind: str
    """Dotted name, e.g. ``order.rejected``, ``risk.state_changed``, ``reconcile.difference``."""
    occurred_at: datetime
    level: AlertLevel = AlertLevel.INFO
    message: str = ""
    subject: str | None = None
    """Symbol, trade id or order id the event is about."""
    payload: Mapping[str, object] = field(default_factory=dict)
