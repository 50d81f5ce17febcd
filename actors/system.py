"""Start or connect: Ray, the clock anchor, the named actors, and the run's summary.

``optagent run`` (``actors/cli.py``) calls :func:`connect` then :meth:`AgentSystem.start`:

1. :func:`connect` starts a local Ray instance (:func:`start_local_node`: a new head, never
   an old cluster by accident, without the daemons one box does not need) or joins
   ``--address`` / ``RAY_ADDRESS`` / ``ray.address``; :func:`disconnect` stops it.
2. In sim mode the effective settings come from the market model, and the clock anchor is
   stored *before* any actor exists: simulated time resumes where the previous run stopped
   (the later of the exchange's saved time and the supervisor's last health snapshot).
3. The service actors are created (named, in ``ray.namespace``, detached if ``ray.detached``)
   and must answer a ping; the Supervisor comes last and starts the loops in its constructor.

If a supervisor of the namespace is already alive (detached system), the driver attaches to
it instead: nothing is re-anchored or re-created.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import ray

from actors.execution import ExecutionActor
from actors.governor import GovernorActor
from actors.handles import (
    SupervisorHandle,
    SystemHandles,
    exists,
    get,
    lookup,
    ready,
    spawn,
)
from actors.learning import LearningActor
from actors.market_data import MarketDataActor
from actors.monitor import MonitorActor
from actors.options import ActorName
from actors.risk import RiskActor
from actors.runtime import provisional_anchor, read_anchor, write_anchor
from actors.scanner import ScannerActor
from actors.services import RayServices
from actors.sim_exchange import SimExchangeActor
from actors.supervisor import HEARTBEAT_S, RunPlan, SupervisorActor, new_run_id
from agent.adapters.sim.market_config import market_config_from_settings
from agent.calendar import ET, MarketCalendar, et_datetime, market_calendar
from agent.clock import Clock, SystemClock
from agent.config import AgentSettings
from agent.domain import Mode, OrderStatus, TradeStatus
from agent.factories import (
    accelerated_clock,
    build_store,
    new_anchor,
    saved_sim_time,
    sim_settings,
    sim_start,
)
from agent.logging import logger
from agent.ports import Store
from agent.runner import HEALTH_KEY
from agent.schedule import Schedule

STOP_AFTER_ANALYSIS = timedelta(minutes=2)
"""The backstop stop time: this long after the last session's daily analysis (inside the
accelerated clock's active window around the job)."""
READY_TIMEOUT_S = 180.0


# --------------------------------------------------------------------------- Ray


def resolve_address(settings: AgentSettings, address: str | None = None) -> str | None:
    """``--address`` > ``RAY_ADDRESS`` > ``ray.address``; None starts a local instance."""
    return address or os.environ.get("RAY_ADDRESS") or settings.ray.address


_LOCAL_NODE: list[Any] = []
"""The local Ray node :func:`connect` started (at most one), for :func:`disconnect`."""


def start_local_node(
    *,
    dashboard: bool,
    dashboard_port: int,
    num_cpus: int | None = None,
    temp_dir: str | None = None,
    log_monitor: bool = False,
) -> Any:
    """Start a local Ray head the way ``ray.init(address="local")`` does, without the
    daemons a single agent box does not need (~160 MiB together):

    - the autoscaler monitor: nothing autoscales a local instance;
    - the log monitor, unless ``log_monitor``: it only streams worker output to the driver
      (every actor logs to its own file through loguru);
    - with the dashboard off, the dashboard process: Ray 2.60 still starts it then, with its
      web frontend disabled and only its usage-stats module loaded.

    A reaper process still stops every Ray process if the driver dies."""
    # ray.init's own start-up path (Ray 2.60), with the same token-auth set-up it does first.
    from ray._private.authentication.authentication_token_setup import (  # noqa: PLC0415
        enable_token_auth_by_default,
        ensure_token_if_auth_enabled,
    )
    from ray._private.node import Node  # noqa: PLC0415
    from ray._private.parameter import RayParams  # noqa: PLC0415

    class LeanHead(Node):
        def start_api_server(self, *, include_dashboard: bool | None, **kwargs: Any) -> None:
            if include_dashboard:
                super().start_api_server(include_dashboard=include_dashboard, **kwargs)

    enable_token_auth_by_default()
    ensure_token_if_auth_enabled({}, create_token_if_missing=True)
    params = RayParams(  # Ray annotates the port as bool and the log-monitor flag as str
        num_cpus=num_cpus,
        include_dashboard=dashboard,
        dashboard_host="127.0.0.1",
        dashboard_port=dashboard_port if dashboard else None,  # type: ignore[arg-type]
        temp_dir=temp_dir,
        include_log_monitor=log_monitor,  # type: ignore[arg-type]
        no_monitor=True,
    )
    return LeanHead(params, head=True, shutdown_at_exit=False, spawn_reaper=True)


def connect(
    settings: AgentSettings,
    *,
    address: str | None = None,
    num_cpus: int | None = None,
    include_dashboard: bool | None = None,
    temp_dir: str | None = None,
    log_to_driver: bool = True,
) -> dict[str, Any]:
    """Start a local Ray instance (:func:`start_local_node`) or join a cluster, in the
    agent's namespace; :func:`disconnect` undoes it.

    A local instance never uses port 6379 (its GCS picks a free port); the dashboard binds
    127.0.0.1:``ray.dashboard_port`` (8265) when ``ray.include_dashboard``."""
    if ray.is_initialized():
        return {"address": None, "joined": False, "dashboard_url": None}
    target = resolve_address(settings, address)
    namespace = settings.ray.namespace
    if target:
        context = ray.init(address=target, namespace=namespace, log_to_driver=log_to_driver)
    else:
        dashboard = (
            settings.ray.include_dashboard if include_dashboard is None else include_dashboard
        )
        node = start_local_node(
            dashboard=dashboard,
            dashboard_port=settings.ray.dashboard_port,
            num_cpus=num_cpus,
            temp_dir=temp_dir,
            log_monitor=log_to_driver,
        )
        _LOCAL_NODE.append(node)
        try:
            context = ray.init(
                address=node.address, namespace=namespace, log_to_driver=log_to_driver
            )
        except BaseException:
            disconnect()
            raise
    url = getattr(context, "dashboard_url", None) or None
    info = {
        "address": target or "local",
        "joined": bool(target),
        "dashboard_url": f"http://{url}" if url and not str(url).startswith("http") else url,
        "namespace": namespace,
    }
    logger.info("ray: {} (namespace {}, dashboard {})", info["address"], namespace, url)
    return info


def disconnect() -> None:
    """Leave Ray and stop the local instance :func:`connect` started (a joined cluster keeps
    running)."""
    ray.shutdown()
    while _LOCAL_NODE:
        _LOCAL_NODE.pop().kill_all_processes(check_alive=False, allow_graceful=True)


def scanner_count(settings: AgentSettings) -> int:
    """``ray.num_scanners``, or one per CPU of the cluster (at least one)."""
    if settings.ray.num_scanners > 0:
        return settings.ray.num_scanners
    resources: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call]
    return max(1, int(resources.get("CPU", 1)))


# --------------------------------------------------------------------------- run plan


def last_session_for(
    start_at: datetime, days: int, calendar: MarketCalendar, schedule: Schedule
) -> date:
    """The ``days``-th trading session whose daily analysis is still ahead at ``start_at``."""
    if days < 1:
        raise ValueError(f"days must be ≥ 1 (got {days})")
    analysis = schedule.settings.daily_analysis_time
    day = calendar.next_session(start_at.astimezone(ET).date(), inclusive=True)
    if et_datetime(day, analysis) <= start_at:
        day = calendar.next_session(day)
    for _ in range(days - 1):
        day = calendar.next_session(day)
    return day


def plan_run(
    settings: AgentSettings,
    *,
    symbols: tuple[str, ...],
    num_scanners: int,
    start_at: datetime,
    days: int | None,
    calendar: MarketCalendar,
    heartbeat_s: float = HEARTBEAT_S,
) -> RunPlan:
    last_session = stop_at = None
    if days is not None:
        schedule = Schedule(settings.schedule, calendar)
        last_session = last_session_for(start_at, days, calendar, schedule)
        stop_at = (
            et_datetime(last_session, settings.schedule.daily_analysis_time) + STOP_AFTER_ANALYSIS
        )
    return RunPlan(
        run_id=new_run_id(),
        symbols=symbols,
        num_scanners=num_scanners,
        stop_at=stop_at,
        last_session=last_session,
        heartbeat_s=heartbeat_s,
    )


# --------------------------------------------------------------------------- sim time


def last_recorded_sim_time(store: Store) -> datetime | None:
    """The simulated time of the supervisor's last health snapshot, if any."""
    with store.transaction() as tx:
        raw = tx.state.get(HEALTH_KEY)
    value = raw.get("sim_now") if raw else None
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def resume_time(settings: AgentSettings, store: Store, calendar: MarketCalendar) -> datetime:
    """Where simulated time resumes: the later of the exchange's saved time and the last
    health snapshot (a restart never moves the clock backwards past what the database saw);
    the configured start for a fresh run."""
    known = [t for t in (saved_sim_time(settings), last_recorded_sim_time(store)) if t]
    if Path(settings.sim.state_file).exists() and known:
        return max(known)
    return sim_start(settings, calendar)


# --------------------------------------------------------------------------- the system


@dataclass(slots=True, kw_only=True)
class AgentSystem:
    settings: AgentSettings
    """The effective settings the actors run with."""
    namespace: str
    handles: SystemHandles
    supervisor: SupervisorHandle | None
    plan: RunPlan | None
    store: Store
    clock: Clock
    symbols: tuple[str, ...] = ()
    attached: bool = False
    owned: list[Any] = field(default_factory=list)
    """The handles returned at creation: a non-detached actor lives as long as its creator
    holds them."""

    # ------------------------------------------------------------------ start

    @classmethod
    def start(
        cls,
        settings: AgentSettings,
        *,
        days: int | None = None,
        heartbeat_s: float | None = None,
        loops: bool = True,
        start_at: datetime | None = None,
    ) -> AgentSystem:
        """Create (or attach to) the system in ``ray.namespace``; Ray must be connected.

        ``loops=False`` creates the service actors only (no Supervisor): the caller drives
        cycles itself through :meth:`services` (benchmarks, the multi-node test).
        ``start_at`` overrides where simulated time starts (default: resume or
        ``sim.start_date``)."""
        namespace = settings.ray.namespace
        detached = settings.ray.detached
        calendar = market_calendar()
        schedule = Schedule(settings.schedule, calendar)
        if settings.mode is Mode.SIM:
            # Only the universe: the quote engine (numba, kernels) stays out of the driver.
            universe = market_config_from_settings(settings).universe()
            effective = sim_settings(settings, universe)
            symbols = universe.symbols
        else:
            effective = settings
            symbols = tuple(settings.universe.watchlist)
        store = build_store(effective)
        if exists(ActorName.SUPERVISOR, namespace):
            return cls._attach(effective, namespace, store, schedule, symbols)

        if effective.mode is not Mode.SIM:
            start_at = None
        else:
            # Simulated time stands still while the actors start (see SharedClock).
            start_at = start_at or resume_time(effective, store, calendar)
            write_anchor(store, provisional_anchor(start_at, effective.sim.speed))
        num_scanners = scanner_count(effective)

        def make(actor_cls: Any, name: ActorName, *args: Any, index: int | None = None) -> Any:
            return spawn(
                actor_cls, name, *args, namespace=namespace, detached=detached, index=index
            )

        first = (
            make(SimExchangeActor, ActorName.SIM_EXCHANGE, effective)
            if effective.mode is Mode.SIM
            else make(GovernorActor, ActorName.GOVERNOR, effective)
        )
        # Market data before the actors that look it up (execution asks it for quotes).
        market = make(MarketDataActor, ActorName.MARKET_DATA, effective, namespace)
        ready([first, market], timeout_s=READY_TIMEOUT_S)
        spawned = [
            market,
            *(
                make(ScannerActor, ActorName.SCANNER, effective, i, index=i)
                for i in range(num_scanners)
            ),
            make(RiskActor, ActorName.RISK, effective),
            make(MonitorActor, ActorName.MONITOR, effective, namespace),
            make(LearningActor, ActorName.LEARNING, effective),
            make(ExecutionActor, ActorName.EXECUTION, effective, namespace),
        ]
        ready(spawned, timeout_s=READY_TIMEOUT_S)
        handles = SystemHandles.lookup(namespace, mode=effective.mode, num_scanners=num_scanners)
        # While simulated time stands still: IV history backfill and daily bars for everyone.
        prepared = get(handles.market.prepare(symbols), timeout_s=READY_TIMEOUT_S)
        logger.info("market data prepared for {}/{} symbols", prepared, len(symbols))
        owned: list[Any] = [first, *spawned]
        if not loops:
            return cls(
                settings=effective,
                namespace=namespace,
                handles=handles,
                supervisor=None,
                plan=None,
                store=store,
                clock=cls._start_clock(store, schedule, start_at, effective),
                symbols=symbols,
                owned=owned,
            )
        plan = plan_run(
            effective,
            symbols=symbols,
            num_scanners=num_scanners,
            start_at=start_at or SystemClock().now(),
            days=days,
            calendar=calendar,
            heartbeat_s=heartbeat_s or float(effective.schedule.heartbeat_interval_s),
        )
        supervisor = SupervisorHandle(
            make(SupervisorActor, ActorName.SUPERVISOR, effective, namespace, plan)
        )
        owned.append(supervisor.actor)
        get(supervisor.ping(), timeout_s=READY_TIMEOUT_S)
        clock = cls._start_clock(store, schedule, start_at, effective)
        handles.supervisor = supervisor
        return cls(
            settings=effective,
            namespace=namespace,
            handles=handles,
            supervisor=supervisor,
            plan=plan,
            store=store,
            clock=clock,
            symbols=symbols,
            owned=owned,
        )

    @staticmethod
    def _start_clock(
        store: Store, schedule: Schedule, start_at: datetime | None, settings: AgentSettings
    ) -> Clock:
        """Store the final anchor (sim): simulated time starts now for every actor."""
        if start_at is None:
            return SystemClock()
        anchor = new_anchor(start_at, settings.sim.speed)
        write_anchor(store, anchor)
        logger.info("sim clock started at {} (speed {}x)", start_at, anchor.speed)
        return accelerated_clock(anchor, schedule)

    @classmethod
    def _attach(
        cls,
        settings: AgentSettings,
        namespace: str,
        store: Store,
        schedule: Schedule,
        symbols: tuple[str, ...],
    ) -> AgentSystem:
        supervisor = SupervisorHandle(lookup(ActorName.SUPERVISOR, namespace))
        status = get(supervisor.status(), timeout_s=READY_TIMEOUT_S)
        clock: Clock = SystemClock()
        anchor = read_anchor(store)
        if settings.mode is Mode.SIM and anchor is not None:
            clock = accelerated_clock(anchor, schedule)
        scanners = sum(
            1 for name in status.get("actors", {}) if name.startswith(ActorName.SCANNER.value)
        )
        handles = SystemHandles.lookup(namespace, mode=settings.mode, num_scanners=max(1, scanners))
        handles.supervisor = supervisor
        logger.info("attached to the running system in namespace {}", namespace)
        return cls(
            settings=settings,
            namespace=namespace,
            handles=handles,
            supervisor=supervisor,
            plan=None,
            store=store,
            clock=clock,
            symbols=symbols,
            attached=True,
        )

    # ------------------------------------------------------------------ control

    def _supervisor(self) -> SupervisorHandle:
        if self.supervisor is None:
            raise RuntimeError("this system was started without loops (no supervisor)")
        return self.supervisor

    def status(self, timeout_s: float = 30.0) -> dict[str, Any]:
        return get(self._supervisor().status(), timeout_s=timeout_s)

    def wait(self, timeout_s: float) -> bool:
        return get(self._supervisor().wait_done(timeout_s), timeout_s=timeout_s + 30.0)

    def stop(self, timeout_s: float = 120.0) -> bool:
        """Stop the loops (final reconcile and exchange save follow) and wait for them."""
        get(self._supervisor().stop(), timeout_s=30.0)
        return self.wait(timeout_s)

    def stop_soon(self) -> None:
        """Ask the loops to stop without waiting (signal handlers)."""
        self._supervisor().stop()

    def services(self) -> RayServices:
        """The Services facade over this system's actors, for a driver that runs cycles."""
        return RayServices(self.handles, settings=self.settings, store=self.store, clock=self.clock)

    def shutdown(self, *, kill: bool = True) -> None:
        """Save the exchange and, unless the system is detached, end every actor; in sim
        mode the stored clock anchor then stands still where the run stopped (what operator
        commands run afterwards see as "now")."""
        stopped_at = self.clock.now()
        if self.supervisor is not None:
            with contextlib.suppress(Exception):
                stopped_at = datetime.fromisoformat(self.status(timeout_s=10.0)["sim_now"])
        if self.handles.exchange is not None:
            try:
                get(self.handles.exchange.save(), timeout_s=60.0)
            except Exception:
                logger.exception("exchange save at shutdown failed")
        if kill and not self.settings.ray.detached:
            if self.settings.mode is Mode.SIM and not self.attached:
                write_anchor(self.store, provisional_anchor(stopped_at, self.settings.sim.speed))
            first = [self.supervisor.actor] if self.supervisor is not None else []
            for actor in [*first, *self.handles.service_actors().values()]:
                try:
                    ray.kill(actor, no_restart=True)
                except Exception:
                    logger.opt(exception=True).debug("kill failed")

    # ------------------------------------------------------------------ summary

    def summary(self, status: dict[str, Any] | None = None) -> dict[str, Any]:
        return run_summary(self.settings, self.store, status or self.status())


def run_summary(settings: AgentSettings, store: Store, status: dict[str, Any]) -> dict[str, Any]:
    """Trades, P&L, fills, rejects and loop health of the run, from the store and the
    supervisor's status."""
    with store.transaction() as tx:
        trades = tx.trades.list()
        fills = tx.fills.list()
        rejected = tx.orders.list_orders(statuses=[OrderStatus.REJECTED])
        orders = tx.orders.list_orders()
        latest = tx.account_snapshots.latest()
    closed = [t for t in trades if t.status is TradeStatus.CLOSED]
    live = [t for t in trades if t.status in (TradeStatus.OPEN, TradeStatus.CLOSING)]
    realized = sum((t.realized_pnl for t in closed), Decimal(0))
    equity = latest.equity if latest is not None else None
    initial = Decimal(str(settings.sim.initial_cash_usd)) if settings.mode is Mode.SIM else None
    return {
        "sim_now": status.get("sim_now"),
        "sessions": status.get("sessions", []),
        "scans": status.get("scans", 0),
        "trades_opened": len(trades),
        "trades_open": len(live),
        "trades_closed": len(closed),
        "realized_pnl_usd": str(realized),
        "equity_usd": str(equity) if equity is not None else None,
        "pnl_usd": str(equity - initial) if equity is not None and initial is not None else None,
        "orders": len(orders),
        "fills": len(fills),
        "rejects": len(rejected),
        "trading_state": status.get("trading_state"),
        "loops": status.get("loops", {}),
        "actors": status.get("actors", {}),
    }
