"""Monitoring: marks, exit rules, rolls, assignment and expiry handling, pin risk, manual
closes and their alerts (issue 10; docs/monitoring.md).

Public API:

- :class:`MonitorService` ``(*, market, store, clock, settings, alerts, calendar)``,
  ``run(state) -> MonitorReport``;
- :func:`request_manual_close` ``(store, trade_id, reason, *, at=None) -> bool`` (the
  ``optagent close TRADE_ID`` command).
"""

from agent.monitor.manual import pending_manual_closes, request_manual_close
from agent.monitor.service import MonitorService

__all__ = ["MonitorService", "pending_manual_closes", "request_manual_close"]
