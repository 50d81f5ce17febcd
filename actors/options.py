"""One table of Ray options per actor: resources, restart policy, task retries, concurrency.

Every actor restarts forever (``max_restarts=-1``) and rebuilds itself in its constructor,
except the simulated exchange, which holds the simulated market's only copy of the book in
memory between saves and is never restarted automatically (a restart would load the last
save; the chaos tests never kill it). Task retries are per actor: idempotent reads and scans
may be retried after a restart; Execution never (a submit is not idempotent: the call in
flight when it dies fails with ``ActorUnavailableError`` and the next reconcile resolves the
order by its client id); Risk never (an approval reserves capacity and must not be
duplicated).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class ActorName(StrEnum):
    SUPERVISOR = "supervisor"
    MARKET_DATA = "market_data"
    SCANNER = "scanner"
    RISK = "risk"
    EXECUTION = "execution"
    MONITOR = "monitor"
    LEARNING = "learning"
    SIM_EXCHANGE = "sim_exchange"
    GOVERNOR = "governor"


LOOP_GROUP = "loop"
CONTROL_GROUP = "control"
MARKET_GROUP = "market"


@dataclass(frozen=True, slots=True, kw_only=True)
class ActorOptions:
    num_cpus: float
    max_restarts: int
    max_task_retries: int
    max_concurrency: int | None = None
    concurrency_groups: dict[str, int] = field(default_factory=dict)
    note: str = ""

    def ray_options(self) -> dict[str, Any]:
        """The keyword arguments for ``ActorClass.options(...)``."""
        opts: dict[str, Any] = {
            "num_cpus": self.num_cpus,
            "max_restarts": self.max_restarts,
            "max_task_retries": self.max_task_retries,
        }
        if self.max_concurrency is not None:
            opts["max_concurrency"] = self.max_concurrency
        return opts

    def class_options(self) -> dict[str, Any]:
        """What Ray only accepts in ``@ray.remote(...)`` (concurrency groups)."""
        return (
            {"concurrency_groups": dict(self.concurrency_groups)} if self.concurrency_groups else {}
        )


ALWAYS = -1
"""``max_restarts=-1``: restart forever."""

ACTOR_OPTIONS: dict[ActorName, ActorOptions] = {
    ActorName.SUPERVISOR: ActorOptions(
        num_cpus=0,
        max_restarts=ALWAYS,
        max_task_retries=ALWAYS,
        concurrency_groups={LOOP_GROUP: 2, CONTROL_GROUP: 4},
        note="async; the loops start in the constructor; status/stop in the control group",
    ),
    ActorName.MARKET_DATA: ActorOptions(
        num_cpus=0,
        max_restarts=ALWAYS,
        max_task_retries=ALWAYS,
        max_concurrency=64,
        concurrency_groups={CONTROL_GROUP: 2},
        note="async; blocking fetches on its own worker thread; ping and data age in the "
        "control group (never queued behind a scan's hundreds of scan_input calls)",
    ),
    ActorName.SCANNER: ActorOptions(
        num_cpus=1,
        max_restarts=ALWAYS,
        max_task_retries=ALWAYS,
        note="sync, CPU-bound (numba); a scan is pure, so retries are safe",
    ),
    ActorName.RISK: ActorOptions(
        num_cpus=0,
        max_restarts=ALWAYS,
        max_task_retries=0,
        max_concurrency=1,
        note="the single writer of risk state; an approval must not be duplicated",
    ),
    ActorName.EXECUTION: ActorOptions(
        num_cpus=0,
        max_restarts=ALWAYS,
        max_task_retries=0,
        max_concurrency=1,
        note="submit is not idempotent: no task retries; reconcile resolves by client id",
    ),
    ActorName.MONITOR: ActorOptions(
        num_cpus=0,
        max_restarts=ALWAYS,
        max_task_retries=ALWAYS,
        max_concurrency=8,
        note="async; the service runs on one worker thread; a pass only reads and marks",
    ),
    ActorName.LEARNING: ActorOptions(
        num_cpus=0,
        max_restarts=ALWAYS,
        max_task_retries=ALWAYS,
        max_concurrency=1,
        note="sync; analysis and learning rewrite their own rows (idempotent per day)",
    ),
    ActorName.SIM_EXCHANGE: ActorOptions(
        num_cpus=0,
        max_restarts=0,
        max_task_retries=0,
        max_concurrency=1,
        concurrency_groups={MARKET_GROUP: 1},
        note="sim mode only; the one simulated book (saved on change, at each close and on "
        "stop) and market; market data on its own thread, never queued behind the book",
    ),
    ActorName.GOVERNOR: ActorOptions(
        num_cpus=0,
        max_restarts=ALWAYS,
        max_task_retries=ALWAYS,
        max_concurrency=1000,
        note="async; the shared request budgets (trading, data) for paper/live",
    ),
}


def options_for(name: ActorName) -> ActorOptions:
    return ACTOR_OPTIONS[name]


def actor_name(name: ActorName, index: int | None = None) -> str:
    """The registered name of an actor (scanners are numbered)."""
    return name.value if index is None else f"{name.value}-{index}"
