"""MonitorService.run on a real store over fake market data: marks written, garbage quotes,
manual closes, busy trades, assigned stock, alerts."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from agent.calendar import et_datetime
from agent.domain import (
    ExitReason,
    OptionChain,
    OptionRight,
    OrderIntent,
    OrderLeg,
    OrderPurpose,
    OrderStatus,
    PositionIntent,
    Side,
    StructureKind,
    TradeStatus,
    TradingState,
)
from agent.errors import DataError
from agent.monitor import request_manual_close
from agent.monitor.manual import MANUAL_CLOSE_KEY, pending_manual_closes
from agent.pricing.chain import enrich_chain
from agent.pricing.enriched import EnrichedChain
from tests.unit.monitor.helpers import (
    EXPIRY,
    NOW,
    SYMBOL,
    Desk,
    leg,
    make_desk,
    model_quote,
    occ,
    quote,
    synthetic_chain,
    trade,
)


def open_spread(desk: Desk, *, qty: int = 2, expiry: date = EXPIRY) -> str:
    t = trade(qty=qty, entry_net="-1.00")
    desk.add(
        t,
        [
            leg(t.trade_id, 95.0, Side.SELL, qty=qty, entry="1.50", expiry=expiry),
            leg(t.trade_id, 90.0, Side.BUY, qty=qty, entry="0.50", expiry=expiry),
        ],
    )
    return t.trade_id


def quote_market(desk: Desk, spot: float, *, iv: float = 0.30, expiry: date = EXPIRY) -> None:
    desk.data.spot = spot
    for strike in (95.0, 90.0):
        bid, ask = model_quote(strike, OptionRight.PUT, spot=spot, iv=iv, expiry=expiry)
        symbol = occ(strike, expiry=expiry)
        desk.data.quotes[symbol] = quote(symbol, bid, ask, at=desk.clock.now())


def test_marks_are_written_without_touching_quantities(tmp_path: Path) -> None:
    desk = make_desk(tmp_path)
    trade_id = open_spread(desk)
    quote_market(desk, 100.0)
    report = desk.service.run(TradingState.ACTIVE)
    (mark,) = report.marks
    assert mark.trade_id == trade_id and report.exits == () and report.problems == ()
    short = desk.position(f"{trade_id}:{occ(95)}")
    by_symbol = {lm.symbol: lm for lm in mark.legs}
    assert short.qty == 2 and short.entry_price == Decimal("1.50")  # execution's columns
    assert short.current_delta == by_symbol[occ(95)].delta
    mid = (Decimal(repr(by_symbol[occ(95)].bid)) + Decimal(repr(by_symbol[occ(95)].ask))) / 2
    assert short.unrealized_pnl == ((mid - Decimal("1.50")) * -200).quantize(Decimal("0.01"))


def test_no_exit_fires_on_garbage_quotes(tmp_path: Path) -> None:
    desk = make_desk(tmp_path)
    trade_id = open_spread(desk)
    quote_market(desk, 100.0)
    # The long leg's quote is crossed: at face value the spread would cost far more than the
    # 2× stop; the monitor records a problem instead of firing.
    desk.data.quotes[occ(90)] = quote(occ(90), 0.05, 0.01)
    desk.data.quotes[occ(95)] = quote(occ(95), 3.00, 3.10)
    report = desk.service.run(TradingState.ACTIVE)
    assert report.exits == () and report.rolls == ()
    assert report.problems and "crossed" in report.problems[0] and trade_id in report.problems[0]
    (mark,) = report.marks
    assert mark.quote_problems
    # the good leg's mark is written, the bad one's is left as it was
    assert desk.position(f"{trade_id}:{occ(95)}").unrealized_pnl != 0
    assert desk.position(f"{trade_id}:{occ(90)}").unrealized_pnl == 0
    # Clean quotes a minute later: now the stop fires.
    desk.clock.advance(timedelta(minutes=1))
    desk.data.quotes[occ(90)] = quote(occ(90), 0.40, 0.42, at=desk.clock.now())
    desk.data.quotes[occ(95)] = quote(occ(95), 3.00, 3.10, at=desk.clock.now())
    report = desk.service.run(TradingState.ACTIVE)
    (exit_,) = report.exits
    assert exit_.reason is ExitReason.STOP_LOSS


def test_no_spot_no_mark(tmp_path: Path) -> None:
    desk = make_desk(tmp_path)
    t = replace(trade(), underlying="ABC")
    desk.add(t, [replace(leg(t.trade_id, 95.0, Side.SELL), underlying="ABC")])
    report = desk.service.run(TradingState.ACTIVE)
    assert report.marks == () and "no spot" in report.problems[0]


def test_pending_trades_are_not_marked_and_busy_trades_not_decided(tmp_path: Path) -> None:
    desk = make_desk(tmp_path)
    pending = trade(status=TradeStatus.PENDING)
    desk.add(pending, [])
    trade_id = open_spread(desk)
    quote_market(desk, 100.0)
    desk.data.quotes[occ(95)] = quote(occ(95), 3.00, 3.10)  # the stop would fire
    with desk.store.transaction() as tx:
        tx.orders.add_intent(
            OrderIntent(
                intent_id="busy",
                trade_id=trade_id,
                purpose=OrderPurpose.CLOSE,
                structure=StructureKind.BULL_PUT_SPREAD,
                legs=(
                    OrderLeg(
                        symbol=occ(95), side=Side.BUY, position_intent=PositionIntent.BUY_TO_CLOSE
                    ),
                ),
                qty=2,
                start_price=Decimal("3.0"),
                limit_bound=Decimal("3.1"),
                natural_price=Decimal("3.1"),
                mid_price=Decimal("3.05"),
                reason="take_profit: x",
                created_at=NOW,
                status=OrderStatus.NEW,
            )
        )
    report = desk.service.run(TradingState.ACTIVE)
    assert [m.trade_id for m in report.marks] == [trade_id]  # marked, but nothing decided
    assert report.exits == ()


def test_manual_close_request_becomes_a_manual_exit_until_the_trade_is_gone(
    tmp_path: Path,
) -> None:
    desk = make_desk(tmp_path)
    trade_id = open_spread(desk)
    quote_market(desk, 100.0)
    assert not request_manual_close(desk.store, "no-such-trade", "test")
    assert request_manual_close(desk.store, trade_id, "flatten before FOMC", at=NOW)
    with desk.store.transaction() as tx:
        assert pending_manual_closes(tx)[trade_id].reason == "flatten before FOMC"
        assert [e.kind for e in tx.events.list(kind_prefix="monitor.manual")] == [
            "monitor.manual_close_requested"
        ]
    report = desk.service.run(TradingState.HALTED)  # exits are allowed whatever the state
    (exit_,) = report.exits
    assert exit_.reason is ExitReason.MANUAL and "flatten before FOMC" in exit_.detail
    # Not placed yet (say the quote was missing): asked again next pass, alerted once a day.
    desk.clock.advance(timedelta(minutes=1))
    quote_market(desk, 100.0)
    again = desk.service.run(TradingState.ACTIVE)
    assert [e.reason for e in again.exits] == [ExitReason.MANUAL]
    assert len([a for a in desk.alerts.sent if "manual" in a[1]]) == 1
    # Once the trade is closed the request is dropped.
    with desk.store.transaction() as tx:
        closed = tx.trades.get(trade_id)
        assert closed is not None
        tx.trades.update(replace(closed, status=TradeStatus.CLOSED, closed_at=NOW))
    desk.service.run(TradingState.ACTIVE)
    with desk.store.transaction() as tx:
        assert pending_manual_closes(tx) == {}
        assert tx.state.get(MANUAL_CLOSE_KEY) == {"requests": {}}
    assert not request_manual_close(desk.store, trade_id, "too late")


def test_assigned_csp_stock_is_sold_with_a_limit_and_alerted_once(tmp_path: Path) -> None:
    desk = make_desk(tmp_path)
    t = trade(StructureKind.CASH_SECURED_PUT, entry_net="-0.60")
    t = replace(
        t,
        execution={
            "assignments": [
                {"activity_id": "act-1", "symbol": occ(95), "contracts": 1, "on": "2026-02-27"}
            ]
        },
    )
    desk.add(t, [leg(t.trade_id, None, Side.BUY, qty=100, entry="95.00", right=None)])
    desk.data.spot = 93.0
    report = desk.service.run(TradingState.ACTIVE)
    (sale,) = report.single_legs
    assert sale.symbol == SYMBOL and sale.qty == 100 and sale.side is Side.SELL
    assert sale.limit_bound == Decimal("92.06")  # 0.99 × bid 92.99 = 92.0601, rounded down
    titles = [a[1] for a in desk.alerts.sent]
    assert titles.count("assignment") == 1
    desk.clock.advance(timedelta(minutes=1))
    desk.service.run(TradingState.ACTIVE)
    assert [a[1] for a in desk.alerts.sent].count("assignment") == 1  # alerted once
    with desk.store.transaction() as tx:
        assert len(tx.events.list(kind_prefix="monitor.assignment")) == 1


def test_covered_call_written_on_assigned_shares(tmp_path: Path) -> None:
    desk = make_desk(tmp_path, "strategies.cash_secured_put.assigned_stock_action=covered_call")
    t = trade(StructureKind.CASH_SECURED_PUT, entry_net="-0.60")
    desk.add(t, [leg(t.trade_id, None, Side.BUY, qty=200, entry="95.00", right=None)])
    desk.data.spot = 96.0
    desk.data.chain = synthetic_chain(
        spot=96.0,
        expiries=[date(2026, 3, 20), date(2026, 4, 2), date(2026, 4, 17)],
        strikes=range(85, 116),
    )
    report = desk.service.run(TradingState.ACTIVE)
    (call,) = report.single_legs
    assert call.position_intent is PositionIntent.SELL_TO_OPEN and call.qty == 2
    assert call.symbol.startswith(f"{SYMBOL}260402C")  # 31 DTE, nearest the 30 configured
    assert desk.service.run(TradingState.HALTED).single_legs == ()


def _threatened_spread_in(desk: Desk) -> None:
    """A spread deep in the money with no time value left on its short put (early
    assignment risk), and a chain to search rolls in."""
    t = trade(qty=1, entry_net="-1.00")
    desk.add(
        t,
        [
            leg(t.trade_id, 95.0, Side.SELL, entry="1.50"),
            leg(t.trade_id, 80.0, Side.BUY, entry="0.50"),
        ],
    )
    desk.data.spot = 85.0
    desk.data.quotes[occ(95)] = quote(occ(95), 9.98, 10.02)  # no time value left
    bid, ask = model_quote(80.0, OptionRight.PUT, spot=85.0, iv=0.3)
    desk.data.quotes[occ(80)] = quote(occ(80), bid, ask)
    desk.data.chain = synthetic_chain(
        spot=85.0, expiries=[EXPIRY, date(2026, 4, 2)], strikes=range(60, 111)
    )


def test_early_assignment_risk_closes_when_no_roll_qualifies(tmp_path: Path) -> None:
    desk = make_desk(tmp_path, "strategies.bull_put_spread.stop_loss_multiple=10")
    _threatened_spread_in(desk)
    report = desk.service.run(TradingState.ACTIVE)
    (exit_,) = report.exits
    assert exit_.reason is ExitReason.EARLY_ASSIGNMENT_RISK
    assert "no acceptable roll" in exit_.detail


def test_roll_searches_use_the_injected_enricher(tmp_path: Path) -> None:
    """The actor system injects the scanner pool's enricher; a search that cannot get its
    chain enriched rejects the roll (the pass goes on) and is tried again next pass."""
    calls: list[str] = []

    def recording(chain: OptionChain, *args: Any, **kwargs: Any) -> EnrichedChain:
        calls.append(chain.underlying)
        return enrich_chain(chain, *args, **kwargs)

    desk = make_desk(tmp_path, "strategies.bull_put_spread.stop_loss_multiple=10", enrich=recording)
    _threatened_spread_in(desk)
    (exit_,) = desk.service.run(TradingState.ACTIVE).exits
    assert calls == [desk.data.chain.underlying]
    assert "no acceptable roll" in exit_.detail

    def unavailable(chain: OptionChain, *args: Any, **kwargs: Any) -> EnrichedChain:
        raise DataError("no scanner enriched the chain")

    (tmp_path / "b").mkdir()
    other = make_desk(
        tmp_path / "b", "strategies.bull_put_spread.stop_loss_multiple=10", enrich=unavailable
    )
    _threatened_spread_in(other)
    (exit_,) = other.service.run(TradingState.ACTIVE).exits
    assert exit_.reason is ExitReason.EARLY_ASSIGNMENT_RISK
    assert "no scanner enriched the chain" in exit_.detail


def test_pin_risk_fires_on_expiry_day_even_without_option_quotes(tmp_path: Path) -> None:
    morning = et_datetime(EXPIRY, NOW.astimezone().time().replace(hour=10, minute=0))
    desk = make_desk(tmp_path, "strategies.bull_put_spread.roll_dte=0", at=morning)
    open_spread(desk, qty=1)
    desk.data.spot = 95.5  # 0.52 % above the short strike
    report = desk.service.run(TradingState.ACTIVE)
    (exit_,) = report.exits
    assert exit_.reason is ExitReason.PIN_RISK
    assert report.marks[0].quote_problems  # no option quotes at all


def test_alert_channel_failure_never_breaks_the_pass(tmp_path: Path) -> None:
    desk = make_desk(tmp_path)
    open_spread(desk)
    quote_market(desk, 100.0)
    desk.data.quotes[occ(95)] = quote(occ(95), 3.00, 3.10)

    def broken(**_: object) -> None:
        raise RuntimeError("smtp down")

    desk.alerts.send = broken  # type: ignore[method-assign]
    report = desk.service.run(TradingState.ACTIVE)
    assert [e.reason for e in report.exits] == [ExitReason.STOP_LOSS]
    with desk.store.transaction() as tx:
        assert tx.events.list(kind_prefix="monitor.exit")


def test_outside_the_session_a_pass_only_marks(tmp_path: Path) -> None:
    evening = NOW + timedelta(hours=8)  # 18:00 ET
    desk = make_desk(tmp_path, at=evening)
    trade_id = open_spread(desk)
    quote_market(desk, 100.0)
    desk.data.quotes[occ(95)] = quote(occ(95), 3.00, 3.10, at=evening)  # the stop would fire
    assert request_manual_close(desk.store, trade_id, "tonight")
    report = desk.service.run(TradingState.ACTIVE)
    assert report.marks and report.exits == ()
    with desk.store.transaction() as tx:
        assert trade_id in pending_manual_closes(tx)  # waits for the open


def test_a_roll_the_broker_refused_today_becomes_a_close(tmp_path: Path) -> None:
    desk = make_desk(tmp_path)
    trade_id = open_spread(desk, expiry=date(2026, 3, 6))  # 4 DTE: inside roll_dte
    desk.data.spot = 95.2  # threatened: a roll is wanted
    for strike in (95.0, 90.0):
        symbol = occ(strike, expiry=date(2026, 3, 6))
        bid, ask = model_quote(strike, OptionRight.PUT, spot=95.2, iv=0.3, expiry=date(2026, 3, 6))
        desk.data.quotes[symbol] = quote(symbol, bid, ask)
    desk.add(trade(trade_id="new-trade", status=TradeStatus.CANCELED), [])
    with desk.store.transaction() as tx:
        tx.orders.add_intent(
            OrderIntent(
                intent_id="refused-roll",
                trade_id="new-trade",
                purpose=OrderPurpose.ROLL,
                structure=StructureKind.BULL_PUT_SPREAD,
                legs=(
                    OrderLeg(
                        symbol=occ(95, expiry=date(2026, 3, 6)),
                        side=Side.BUY,
                        position_intent=PositionIntent.BUY_TO_CLOSE,
                    ),
                ),
                qty=2,
                start_price=Decimal("-0.1"),
                limit_bound=Decimal("-0.05"),
                natural_price=Decimal("-0.05"),
                mid_price=Decimal("-0.1"),
                reason="expiry_approaching: roll",
                created_at=NOW - timedelta(minutes=5),
                status=OrderStatus.REJECTED,
                closes_trade_id=trade_id,
            )
        )
    report = desk.service.run(TradingState.ACTIVE)
    assert report.rolls == ()
    (exit_,) = report.exits
    assert exit_.reason is ExitReason.EXPIRY_APPROACHING and "refused a roll" in exit_.detail
