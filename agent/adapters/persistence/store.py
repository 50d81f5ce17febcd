"""``SqlStore``: :class:`agent.ports.Store` on SQLite or PostgreSQL.

Build one per process from the URL (``open_store(settings.database_url)`` inside each Ray
actor); a store is never pickled, and each one owns its engine and connection pool.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from types import TracebackType
from typing import TYPE_CHECKING, NoReturn, Self

from sqlalchemy import Engine, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from agent.adapters.persistence.engine import (
    READ_ONLY_OPTION,
    create_database_engine,
    is_memory_sqlite,
    redacted,
)
from agent.adapters.persistence.repositories import (
    SqlAccountSnapshotRepository,
    SqlDecisionRepository,
    SqlEventRepository,
    SqlFillRepository,
    SqlIvHistoryRepository,
    SqlLearningRepository,
    SqlMetricsRepository,
    SqlOrderRepository,
    SqlPositionRepository,
    SqlRiskDecisionRepository,
    SqlStateRepository,
    SqlTradeRepository,
)
from agent.errors import ConfigError, InvariantViolation
from agent.ports import (
    AccountSnapshotRepository,
    DecisionRepository,
    EventRepository,
    FillRepository,
    IvHistoryRepository,
    LearningRepository,
    MetricsRepository,
    OrderRepository,
    PositionRepository,
    RiskDecisionRepository,
    StateRepository,
    Store,
    StoreSession,
    TradeRepository,
)

__all__ = ["SqlStore", "SqlStoreSession", "open_store"]


class SqlStoreSession:
    """The repositories of one transaction (:class:`agent.ports.StoreSession`)."""

    trades: TradeRepository
    positions: PositionRepository
    orders: OrderRepository
    fills: FillRepository
    decisions: DecisionRepository
    risk_decisions: RiskDecisionRepository
    iv_history: IvHistoryRepository
    account_snapshots: AccountSnapshotRepository
    events: EventRepository
    metrics: MetricsRepository
    learning: LearningRepository
    state: StateRepository

    def __init__(self, session: Session, *, read_only: bool) -> None:
        self.trades = SqlTradeRepository(session, read_only=read_only)
        self.positions = SqlPositionRepository(session, read_only=read_only)
        self.orders = SqlOrderRepository(session, read_only=read_only)
        self.fills = SqlFillRepository(session, read_only=read_only)
        self.decisions = SqlDecisionRepository(session, read_only=read_only)
        self.risk_decisions = SqlRiskDecisionRepository(session, read_only=read_only)
        self.iv_history = SqlIvHistoryRepository(session, read_only=read_only)
        self.account_snapshots = SqlAccountSnapshotRepository(session, read_only=read_only)
        self.events = SqlEventRepository(session, read_only=read_only)
        self.metrics = SqlMetricsRepository(session, read_only=read_only)
        self.learning = SqlLearningRepository(session, read_only=read_only)
        self.state = SqlStateRepository(session, read_only=read_only)


class SqlStore:
    """Durable storage on SQLite or PostgreSQL (:class:`agent.ports.Store`).

    ``with store.transaction() as tx:`` commits when the block ends normally and rolls back
    when it raises. Transactions do not nest (a nested one would wait on the outer one's
    SQLite lock): pass ``tx`` down instead. ``transaction(read_only=True)`` is for readers: on
    SQLite it does not take the write lock (write transactions start with BEGIN IMMEDIATE
    and so queue behind each other), and any write in it fails.

    The constructor does not migrate; :func:`open_store` does.
    """

    def __init__(self, url: str | URL) -> None:
        self._engine: Engine = create_database_engine(url)
        self._local = threading.local()
        # An in-memory SQLite database is one shared connection: one transaction at a time.
        self._memory_lock = threading.Lock() if is_memory_sqlite(self._engine.url) else None
        self._closed = False

    @property
    def url(self) -> str:
        """The database URL with the password masked."""
        return redacted(self._engine.url)

    @property
    def dialect_name(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._engine.dialect.name

    @property
    def engine(self) -> Engine:
        """The engine, for migrations and maintenance inside this package and its tests."""
        return self._engine

    @contextmanager
    def transaction(self, *, read_only: bool = False) -> Iterator[StoreSession]:
        if self._closed:
            raise InvariantViolation(f"the store at {self.url} is closed")
        if getattr(self._local, "in_transaction", False):
            raise InvariantViolation(
                "store.transaction() is already open in this thread; pass its session down "
                "instead of opening a second one (on SQLite it would wait for itself)"
            )
        with self._memory_lock or nullcontext():
            self._local.in_transaction = True
            try:
                with Session(self._engine, autoflush=False, expire_on_commit=False) as session:
                    # Begin now, with the mode: BEGIN IMMEDIATE (or a read-only BEGIN) up front.
                    session.connection(execution_options={READ_ONLY_OPTION: read_only})
                    try:
                        yield SqlStoreSession(session, read_only=read_only)
                    except BaseException:
                        session.rollback()
                        raise
                    session.commit()
            finally:
                self._local.in_transaction = False

    def close(self) -> None:
        """Close every pooled connection; the store cannot be used afterwards."""
        self._closed = True
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __reduce__(self) -> NoReturn:
        raise TypeError(
            "SqlStore is not picklable: build one inside each process (each Ray actor) with "
            "open_store(database_url)"
        )

    def __repr__(self) -> str:
        return f"SqlStore({self.url!r})"


HEAD_REVISION = "0001"
"""The newest migration in ``migrations/versions`` (a test keeps the two in step)."""


def _stored_revision(engine: Engine) -> str | None:
    """The database's Alembic revision read with plain SQL (None if not migrated yet)."""
    if is_memory_sqlite(engine.url):
        return None
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError:
        return None


def open_store(url: str | URL, *, upgrade: bool = True) -> SqlStore:
    """A :class:`SqlStore` for ``url`` whose schema is current.

    With ``upgrade`` (the default), pending migrations are applied first (safe when several
    processes start together). Without it, a database that is not at the newest revision is
    refused with a :class:`~agent.errors.ConfigError` naming the fix.
    """
    store = SqlStore(url)
    try:
        if _stored_revision(store.engine) == HEAD_REVISION:
            return store  # current already: no need to load Alembic at all
        from agent.adapters.persistence import migrate  # noqa: PLC0415

        if upgrade:
            migrate.upgrade_engine(store.engine)
        else:
            current = migrate.current_revision_of(store.engine)
            head = migrate.head_revision()
            if current != head:
                raise ConfigError(
                    f"the database at {store.url} is at schema revision {current or 'none'}, "
                    f"this optagent needs {head}: run `optagent db upgrade`"
                )
    except BaseException:
        store.close()
        raise
    return store


if TYPE_CHECKING:  # mypy proves that the classes satisfy the ports
    _STORE: Store = SqlStore("sqlite://")
    _SESSION: StoreSession = SqlStoreSession(Session(), read_only=False)
