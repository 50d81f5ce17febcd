"""Roll construction: one order of at most 4 legs, whole-order net prices that agree with how
execution prices the same legs, and each acceptance rule."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import pytest

from agent.domain import (
    ExitReason,
    OptionRight,
    OrderPurpose,
    PositionLeg,
    Quote,
    Side,
    StructureKind,
    Trade,
    TradeMark,
)
from agent.domain.orders import validate_legs
from agent.execution.intents import candidate_legs, closing_leg, mleg_compatible
from agent.execution.walker import net_quote
from agent.monitor.marks import MarkInput, StockQuote, mark_trades
from agent.monitor.rolls import RollSearch, find_roll
from agent.pricing.chain import EnrichedChain, enrich_chain
from agent.signals import strategy_context
from agent.strategies import strategy_for
from tests.unit.monitor.helpers import NOW, RATE, leg, make_settings, synthetic_chain, trade

NEAR = date(2026, 3, 20)  # 18 DTE
EXPIRIES = [NEAR, date(2026, 4, 2), date(2026, 4, 10), date(2026, 4, 17)]  # 18, 31, 39, 46


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return make_settings(
        tmp_path_factory.mktemp("rolls"),
        "strategies.iron_condor.dte_max=60",
        "strategies.cash_secured_put.symbols=[XYZ]",
    )


def market(spot: float) -> tuple[EnrichedChain, dict[str, Quote]]:
    chain = synthetic_chain(spot=spot, expiries=EXPIRIES, strikes=range(60, 141), skew=0.8)
    enriched = enrich_chain(chain, spot, RATE, 0.0, NOW)
    quotes = {
        str(chain.symbol[i]): Quote(
            symbol=str(chain.symbol[i]),
            bid=float(chain.bid[i]),
            ask=float(chain.ask[i]),
            quoted_at=NOW,
        )
        for i in range(len(chain))
    }
    return enriched, quotes


def search(
    settings,  # type: ignore[no-untyped-def]
    t: Trade,
    legs: tuple[PositionLeg, ...],
    spot: float,
    *,
    reason: ExitReason = ExitReason.EXPIRY_APPROACHING,
) -> tuple[RollSearch, TradeMark, EnrichedChain]:
    enriched, quotes = market(spot)
    (result,) = mark_trades(
        [MarkInput(trade=t, legs=legs, spot=StockQuote(price=spot, bid=spot, ask=spot))],
        quotes,
        as_of=NOW,
        rate=RATE,
        max_quote_age_s=300,
    )
    ctx = strategy_context(enriched, settings, scan_id="unit", trade_id=t.trade_id)
    found = find_roll(
        trade=t,
        mark=result.mark,
        legs=legs,
        strategy=strategy_for(t.strategy, settings),
        chain=enriched,
        ctx=ctx,
        settings=settings,
        reason=reason,
        detail="threatened",
    )
    return found, result.mark, enriched


def row(chain: EnrichedChain, symbol: str) -> int:
    return [str(s) for s in chain.chain.symbol].index(symbol)


def cents(value: float, rounding: str) -> Decimal:
    return Decimal(repr(value)).quantize(Decimal("0.01"), rounding=rounding)


def spread(settings, *, credit_legs: tuple[str, str] = ("1.20", "0.50"), qty: int = 2):  # type: ignore[no-untyped-def]
    t = trade(StructureKind.BULL_PUT_SPREAD, qty=qty)
    legs = (
        leg(t.trade_id, 95.0, Side.SELL, qty=qty, entry=credit_legs[0], expiry=NEAR),
        leg(t.trade_id, 90.0, Side.BUY, qty=qty, entry=credit_legs[1], expiry=NEAR),
    )
    return t, legs


def allow_any_credit(settings, kind: str = "bull_put_spread"):  # type: ignore[no-untyped-def]
    section = getattr(settings.strategies, kind).model_copy(
        update={"roll_min_net_credit_usd": -10.0}
    )
    return settings.model_copy(
        update={"strategies": settings.strategies.model_copy(update={kind: section})}
    )


def test_spread_roll_is_one_order_close_two_open_two_at_whole_order_prices(settings) -> None:  # type: ignore[no-untyped-def]
    settings = allow_any_credit(settings)
    t, legs = spread(settings)
    found, _, chain = search(settings, t, legs, spot=97.0)
    assert found.action is not None, found.rejections
    roll = found.action
    candidate = roll.candidate
    assert roll.trade_id == t.trade_id and roll.reason is ExitReason.EXPIRY_APPROACHING
    assert set(roll.close_symbols) == {lg.symbol for lg in legs}
    assert candidate.purpose is OrderPurpose.ROLL
    assert candidate.rolled_from_trade_id == t.trade_id
    assert candidate.close_symbols == roll.close_symbols
    assert len(candidate.legs) == 2 and len(roll.close_symbols) + len(candidate.legs) <= 4
    assert all(leg_.contract.expiry > NEAR for leg_ in candidate.legs)

    # Whole-order natural: buy the short back at its ask (up), sell the long at its bid (down),
    # plus the opening legs at their natural prices; the mid rounds toward less credit.
    short_row, long_row = row(chain, legs[0].symbol), row(chain, legs[1].symbol)
    bid, ask = chain.chain.bid, chain.chain.ask
    close_natural = cents(float(ask[short_row]), ROUND_CEILING) - cents(
        float(bid[long_row]), ROUND_FLOOR
    )
    open_natural = sum(
        (
            cents(lg.ask, ROUND_CEILING) if lg.side is Side.BUY else -cents(lg.bid, ROUND_FLOOR)
            for lg in candidate.legs
        ),
        Decimal(0),
    )
    assert candidate.net_price_natural == close_natural + open_natural
    close_mid = (
        Decimal(repr(float(ask[short_row]))) + Decimal(repr(float(bid[short_row])))
    ) / 2 - (Decimal(repr(float(ask[long_row]))) + Decimal(repr(float(bid[long_row])))) / 2
    open_mid = sum(
        (
            (Decimal(repr(lg.bid)) + Decimal(repr(lg.ask))) / 2 * lg.side.sign
            for lg in candidate.legs
        ),
        Decimal(0),
    )
    assert candidate.net_price_mid == (close_mid + open_mid).quantize(
        Decimal("0.01"), rounding=ROUND_CEILING
    )
    assert candidate.net_price_mid <= candidate.net_price_natural
    rules = {r.rule: r.passed for r in candidate.reasons}
    assert all(
        rules[k]
        for k in (
            "roll_legs",
            "roll_liquidity",
            "roll_net_credit",
            "roll_short_delta",
            "roll_max_loss",
        )
    )


def test_execution_builds_and_prices_the_same_order(settings) -> None:  # type: ignore[no-untyped-def]
    """ExecutionService.roll_trade sends close_symbols (held qty ÷ units) + candidate legs at
    candidate.net_price_*; pricing those order legs the way its walker does gives the same
    natural price."""
    settings = allow_any_credit(settings)
    t, legs = spread(settings, qty=2)
    found, _, chain = search(settings, t, legs, spot=97.0)
    assert found.action is not None
    roll = found.action
    held = {lg.symbol: lg for lg in legs}
    order_legs = (
        *(closing_leg(held[s], held[s].qty // 2) for s in roll.close_symbols),
        *candidate_legs(roll.candidate),
    )
    validate_legs(order_legs)
    assert mleg_compatible([lg.symbol for lg in order_legs]) and len(order_legs) == 4
    quotes = {
        str(chain.chain.symbol[i]): Quote(
            symbol=str(chain.chain.symbol[i]),
            bid=float(chain.chain.bid[i]),
            ask=float(chain.chain.ask[i]),
            quoted_at=NOW,
        )
        for i in range(len(chain))
    }
    net = net_quote(order_legs, quotes, settings.execution)
    assert net is not None
    assert net.natural == roll.candidate.net_price_natural  # cent quotes: no rounding left
    assert abs(net.mid - roll.candidate.net_price_mid) < Decimal("0.01")


def test_no_roll_when_the_net_credit_is_below_the_minimum(settings) -> None:  # type: ignore[no-untyped-def]
    t, legs = spread(settings)
    found, _, _ = search(settings, t, legs, spot=94.0)  # in the money: closing is dear
    assert found.action is None and found.candidates > 0
    assert all("roll_net_credit" in r for r in found.rejections)
    assert "roll_net_credit" in found.why_not()


def test_no_roll_that_would_raise_the_max_loss(settings) -> None:  # type: ignore[no-untyped-def]
    settings = allow_any_credit(settings)
    # The closed legs brought in 4.00 on a 5-wide spread (max loss 100): any new 5-wide spread
    # for less credit risks more.
    t, legs = spread(settings, credit_legs=("4.50", "0.50"))
    found, _, _ = search(settings, t, legs, spot=97.0)
    assert found.action is None
    assert found.rejections and all("roll_max_loss" in r for r in found.rejections)


def test_condor_rolls_only_its_tested_side(settings) -> None:  # type: ignore[no-untyped-def]
    settings = allow_any_credit(settings, "iron_condor")
    t = trade(StructureKind.IRON_CONDOR, qty=1, entry_net="-2.00")
    legs = (
        leg(t.trade_id, 85.0, Side.SELL, entry="0.80", expiry=NEAR),
        leg(t.trade_id, 80.0, Side.BUY, entry="0.30", expiry=NEAR),
        leg(t.trade_id, 104.0, Side.SELL, entry="1.00", right=OptionRight.CALL, expiry=NEAR),
        leg(t.trade_id, 109.0, Side.BUY, entry="0.60", right=OptionRight.CALL, expiry=NEAR),
    )
    found, mark, _ = search(settings, t, legs, spot=105.0, reason=ExitReason.BREACH)
    assert mark.breached is OptionRight.CALL
    assert found.action is not None, found.rejections
    roll = found.action
    calls = {lg.symbol for lg in legs if lg.right is OptionRight.CALL}
    assert set(roll.close_symbols) == calls
    assert all(lg.contract.right is OptionRight.CALL for lg in roll.candidate.legs)
    assert len(roll.close_symbols) + len(roll.candidate.legs) == 4
    # risk sees the whole structure after the roll: the new side plus the untested put side
    untested = (Decimal(5) - (Decimal("0.80") - Decimal("0.30"))) * 100
    open_natural = sum(
        (
            cents(lg.ask, ROUND_CEILING) if lg.side is Side.BUY else -cents(lg.bid, ROUND_FLOOR)
            for lg in roll.candidate.legs
        ),
        Decimal(0),
    )
    new_side = (Decimal(5) + open_natural) * 100  # (wing width − natural credit) × 100
    assert roll.candidate.max_loss_usd == new_side + untested
    for lg in roll.candidate.legs:
        if lg.side is Side.SELL:
            assert settings.strategies.iron_condor.call_delta_min <= lg.delta
            assert lg.delta <= settings.strategies.iron_condor.call_delta_max


def test_csp_roll_is_close_one_open_one(settings) -> None:  # type: ignore[no-untyped-def]
    settings = allow_any_credit(settings, "cash_secured_put")
    t = trade(StructureKind.CASH_SECURED_PUT, entry_net="-1.20")
    legs = (leg(t.trade_id, 95.0, Side.SELL, entry="1.20", expiry=NEAR),)
    found, _, _ = search(settings, t, legs, spot=96.0)
    assert found.action is not None, found.rejections
    roll = found.action
    assert roll.close_symbols == (legs[0].symbol,)
    assert len(roll.candidate.legs) == 1 and roll.candidate.legs[0].side is Side.SELL
    order = [closing_leg(legs[0]), *candidate_legs(roll.candidate)]
    validate_legs(tuple(order))
    assert mleg_compatible([lg.symbol for lg in order])


def test_no_roll_target_in_the_window(settings) -> None:  # type: ignore[no-untyped-def]
    t, legs = spread(settings)
    narrow = settings.model_copy(
        update={
            "strategies": settings.strategies.model_copy(
                update={
                    "bull_put_spread": settings.strategies.bull_put_spread.model_copy(
                        update={"dte_min": 1, "dte_max": 10, "dte_target": 5}
                    )
                }
            )
        }
    )
    found, _, _ = search(narrow, t, legs, spot=97.0)
    assert found.action is None and found.candidates == 0
    assert "no roll target" in found.why_not()
