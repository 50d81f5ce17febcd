"""Functions the persistence tests run in child processes (spawned, so importable here)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from agent.adapters.persistence import current_revision, open_store

from . import builders as b


def open_and_report_revision(url: str) -> str | None:
    """Open (and so migrate) the store, as every actor does at start-up."""
    open_store(url).close()
    return current_revision(url)


def hammer(url: str, worker: int, rounds: int, barrier: Any, results: Any) -> None:
    """Write from one process: a read-modify-write counter, an event, a shared fill id and an
    IV upsert per transaction. Puts ``(worker, fills won, error or None)`` on ``results``."""
    won = 0
    try:
        store = open_store(url)
        barrier.wait(timeout=60)
        for index in range(rounds):
            with store.transaction() as tx:
                counter = tx.state.get("counter") or {"n": 0}
                tx.state.put("counter", {"n": counter["n"] + 1})
                tx.events.add(b.event(f"E-{worker}-{index}", occurred_at=b.at(index)))
                # every worker tries the same fill ids: exactly one may win each
                if tx.fills.add(b.fill(f"F-{index}"), trade_id=None):
                    won += 1
                tx.iv_history.upsert("SPY", date(2026, 3, 2) + timedelta(days=index % 5), 0.2)
        store.close()
    except Exception as error:
        results.put((worker, won, f"{type(error).__name__}: {error}"))
        return
    results.put((worker, won, None))
