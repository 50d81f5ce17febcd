"""RayServices (the Services facade over actor handles) without Ray: fake handles return
awaitables the way actor handles return ObjectRefs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from ray.exceptions import RayTaskError

from actors.handles import SystemHandles, unwrap
from actors.services import RayServices
from agent.clock import SimClock
from agent.domain import DecisionOutcome, SymbolScan, TradingState, WorkReport
from agent.errors import BrokerAuthError, DataError, TransientBrokerError
from agent.factories import build_store
from tests.actors.raykit import sim_settings

AT = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


async def _value(value: Any) -> Any:
    return value


async def _raise(exc: BaseException) -> Any:
    raise exc


class Recorder:
    """A fake actor handle: every method returns an awaitable and records its call."""

    def __init__(self, **behaviour: Callable[..., Awaitable[Any]]) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self._behaviour = behaviour

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        def call(*args: Any) -> Awaitable[Any]:
            self.calls.append((name, args))
            return self._behaviour.get(name, lambda *_: _value(None))(*args)

        return call

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


def _scan(symbol: str) -> SymbolScan:
    return SymbolScan(
        scan_id="s1",
        underlying=symbol,
        as_of=AT,
        candidates=(),
        decisions=(),
        atm_iv=0.2,
        iv_rank=50.0,
        contracts=10,
    )


def _services(tmp_path: Path, **handles: Any) -> RayServices:
    settings = sim_settings(tmp_path)
    parts = {
        name: handles.get(name, Recorder())
        for name in ("market", "scanners", "risk", "execution", "monitor", "learning")
    }
    system = SystemHandles(namespace="t", exchange=handles.get("exchange"), **parts)
    return RayServices(system, settings=settings, store=build_store(settings), clock=SimClock(AT))


def test_scan_passes_each_input_ref_to_a_scanner_unfetched(tmp_path: Path) -> None:
    inputs: dict[str, object] = {}

    def scan_input(symbol: str, scan_id: str) -> Awaitable[Any]:
        ref = _value(f"input:{symbol}")
        inputs[symbol] = ref
        return ref

    async def scanned(ref: Awaitable[Any]) -> SymbolScan:
        text = await ref  # the scanner (not the supervisor) resolves the input
        symbol = str(text).split(":")[1]
        if symbol == "BAD":
            raise RayTaskError("scan", "traceback", ValueError("broken chain"))
        return _scan(symbol)

    market = Recorder(scan_input=scan_input)
    seen: list[object] = []

    def pool_scan(ref: Awaitable[Any]) -> Awaitable[Any]:
        seen.append(ref)
        return scanned(ref)

    scanners = Recorder(scan=pool_scan)
    services = _services(tmp_path, market=market, scanners=scanners)
    scans = asyncio.run(services.scan(["SPY", "BAD", "QQQ"], "s1"))

    assert market.names()[0] == "warm"
    assert seen == [inputs["SPY"], inputs["BAD"], inputs["QQQ"]]
    assert [s.underlying for s in scans] == ["SPY", "BAD", "QQQ"]
    bad = scans[1]
    assert bad.candidates == () and bad.decisions[0].outcome is DecisionOutcome.REJECTED
    assert "broken chain" in bad.decisions[0].failed_reasons[0].message


@pytest.mark.parametrize(
    ("error", "risk_call"),
    [
        (TransientBrokerError("HTTP 429 too many requests", ambiguous=True), "record_broker_error"),
        (BrokerAuthError("HTTP 401 unauthorized"), "record_auth_failure"),
    ],
)
def test_broker_errors_feed_the_breakers_and_propagate(
    tmp_path: Path, error: Exception, risk_call: str
) -> None:
    execution = Recorder(account=lambda: _raise(RayTaskError("account", "tb", error)))
    risk = Recorder(**{risk_call: lambda *_: _value(TradingState.HALTED)})
    services = _services(tmp_path, execution=execution, risk=risk)
    with pytest.raises(type(error)) as raised:
        asyncio.run(services.account())
    assert raised.value is error  # attributes (ambiguous, retry_after_s) intact
    assert risk.names() == [risk_call]
    assert str(error) in risk.calls[0][1]


def test_other_errors_do_not_trip_breakers(tmp_path: Path) -> None:
    execution = Recorder(work=lambda: _raise(DataError("no quotes")))
    risk = Recorder()
    services = _services(tmp_path, execution=execution, risk=risk)
    with pytest.raises(DataError):
        asyncio.run(services.work_orders())
    assert risk.calls == []


def test_flatten_clears_the_request_and_end_of_day_saves_the_exchange(tmp_path: Path) -> None:
    execution = Recorder(flatten=lambda: _value(3), work=lambda: _value(WorkReport(fills=2)))
    risk = Recorder()
    exchange = Recorder()
    services = _services(tmp_path, execution=execution, risk=risk, exchange=exchange)
    assert asyncio.run(services.flatten()) == 3
    assert risk.names() == ["clear_flatten"]
    asyncio.run(services.end_of_day())
    assert execution.names()[-1] == "end_of_day" and exchange.names() == ["save"]
    assert asyncio.run(services.work_orders()).fills == 2


def test_data_age_is_the_freshest_known(tmp_path: Path) -> None:
    monitor = Recorder(data_age_s=lambda: _value(42.0))
    market = Recorder(data_age_s=lambda: _value(None))
    services = _services(tmp_path, monitor=monitor, market=market)
    assert asyncio.run(services.data_age_s()) == 42.0
    market = Recorder(data_age_s=lambda: _value(7.5))
    services = _services(tmp_path, monitor=monitor, market=market)
    assert asyncio.run(services.data_age_s()) == 7.5


def test_unwrap_leaves_plain_errors_alone() -> None:
    plain = ValueError("x")
    assert unwrap(plain) is plain
