"""Manual close requests: ``optagent close TRADE_ID``.

A request is a row in the ``monitor.manual_close`` state document (trade id → reason and
when it was asked), written by :func:`request_manual_close` from any process — the CLI
works whether or not the agent is running. The monitor turns every pending request into an
``ExitAction(reason=MANUAL)`` at its next pass, so the close goes through the same execution
path as every other exit (multi-leg limit order, walker, records). A request stays pending
until its trade is no longer live (closed or cancelled), so a close that could not be placed
(no quote, the market closed, another order working) is simply tried again at the next pass;
a request for a trade that is gone is dropped.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agent.domain import AlertLevel, Event, TradeStatus
from agent.ports import Store, StoreSession

__all__ = [
    "LIVE_TRADE_STATUSES",
    "MANUAL_CLOSE_KEY",
    "ManualRequest",
    "drop_manual_requests",
    "pending_manual_closes",
    "request_manual_close",
]

MANUAL_CLOSE_KEY = "monitor.manual_close"
LIVE_TRADE_STATUSES = (TradeStatus.PENDING, TradeStatus.OPEN, TradeStatus.CLOSING)


@dataclass(frozen=True, slots=True, kw_only=True)
class ManualRequest:
    trade_id: str
    reason: str
    requested_at: datetime | None = None


def _requests(tx: StoreSession) -> dict[str, dict[str, Any]]:
    document = tx.state.get(MANUAL_CLOSE_KEY) or {}
    raw = document.get("requests", {})
    return {str(k): dict(v) for k, v in raw.items()} if isinstance(raw, Mapping) else {}


def request_manual_close(
    store: Store, trade_id: str, reason: str, *, at: datetime | None = None
) -> bool:
    """Record a request to close ``trade_id`` (False if no live trade has that id).

    ``at`` (aware) is when it was asked; an ``monitor.manual_close_requested`` event is
    written when it is given. Repeating a request replaces its reason.
    """
    with store.transaction() as tx:
        trade = tx.trades.get(trade_id)
        if trade is None or trade.status not in LIVE_TRADE_STATUSES:
            return False
        requests = _requests(tx)
        requests[trade_id] = {
            "reason": reason,
            "requested_at": at.isoformat() if at is not None else None,
        }
        tx.state.put(MANUAL_CLOSE_KEY, {"requests": requests})
        if at is not None:
            tx.events.add(
                Event(
                    event_id=f"evt-{uuid.uuid4().hex}",
                    kind="monitor.manual_close_requested",
                    occurred_at=at,
                    level=AlertLevel.INFO,
                    message=f"manual close of {trade.underlying} {trade.strategy.value} "
                    f"requested: {reason}",
                    subject=trade_id,
                    payload={"reason": reason},
                )
            )
    return True


def pending_manual_closes(tx: StoreSession) -> dict[str, ManualRequest]:
    """The requests not yet settled, by trade id."""
    out: dict[str, ManualRequest] = {}
    for trade_id, raw in _requests(tx).items():
        at = raw.get("requested_at")
        out[trade_id] = ManualRequest(
            trade_id=trade_id,
            reason=str(raw.get("reason") or "manual close"),
            requested_at=datetime.fromisoformat(at) if isinstance(at, str) else None,
        )
    return out


def drop_manual_requests(tx: StoreSession, trade_ids: set[str]) -> None:
    """Forget the requests of ``trade_ids`` (their trades are no longer live)."""
    if not trade_ids:
        return
    requests = _requests(tx)
    kept = {k: v for k, v in requests.items() if k not in trade_ids}
    if len(kept) != len(requests):
        tx.state.put(MANUAL_CLOSE_KEY, {"requests": kept})
