"""Several processes, each with its own engine, write the same database at once."""

from __future__ import annotations

import multiprocessing

from sqlalchemy.engine import URL

from agent.adapters.persistence import open_store

from .workers import hammer

WORKERS = 3
ROUNDS = 40


def test_processes_write_concurrently_without_lost_updates_or_lock_errors(
    empty_url: URL,
) -> None:
    # The database starts empty, so the workers also race to migrate it.
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(WORKERS)
    results = context.Queue()
    url = empty_url.render_as_string(hide_password=False)
    processes = [
        context.Process(target=hammer, args=(url, worker, ROUNDS, barrier, results))
        for worker in range(WORKERS)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0

    assert [error for _, _, error in outcomes] == [None] * WORKERS  # no "database is locked"
    assert sum(won for _, won, _ in outcomes) == ROUNDS  # each shared fill id won once

    with open_store(empty_url) as store, store.transaction(read_only=True) as tx:
        assert tx.state.get("counter") == {"n": WORKERS * ROUNDS}  # no lost update
        assert len(tx.events.list()) == WORKERS * ROUNDS
        assert len(tx.fills.list()) == ROUNDS
        assert len(tx.iv_history.series("SPY")) == 5
