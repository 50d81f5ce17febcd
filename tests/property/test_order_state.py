"""The order state machine under random event sequences (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.domain import OrderStatus
from agent.errors import InvariantViolation
from agent.execution.state import (
    BROKER_STATUSES,
    LEGAL_TRANSITIONS,
    WORKING_STATUSES,
    OrderState,
    check_fills,
    confirm_absent,
    is_legal,
    mark_not_submitted,
    mark_unknown,
    observe,
)

S = OrderStatus
ALL = list(OrderStatus)


def legal_moves(state: OrderState) -> list[tuple[str, OrderStatus | None, int]]:
    """Every event that may legally happen next: (kind, status, filled_qty)."""
    qty, filled = state.qty, state.filled_qty
    moves: list[tuple[str, OrderStatus | None, int]] = []
    status = state.status
    if status is S.PENDING:
        moves += [("unknown", None, 0), ("not_submitted", None, 0)]
    if status is S.UNKNOWN:
        moves += [("absent", None, 0)]
    for target in sorted(LEGAL_TRANSITIONS[status] | {status}, key=str):
        if target not in BROKER_STATUSES:
            continue
        if target is S.FILLED:
            moves.append(("observe", target, qty))
        elif target is S.PARTIALLY_FILLED:
            if filled + 1 < qty:
                moves.append(("observe", target, filled + 1))
            if 0 < filled < qty:
                moves.append(("observe", target, filled))
        elif target in (S.NEW, S.ACCEPTED, S.REJECTED):
            if filled == 0:
                moves.append(("observe", target, 0))
        elif filled < qty:  # canceled, expired, replaced, pending cancel/replace
            moves.append(("observe", target, filled))
    return moves


def apply(state: OrderState, move: tuple[str, OrderStatus | None, int]) -> OrderState:
    kind, status, filled = move
    if kind == "unknown":
        return mark_unknown(state)
    if kind == "absent":
        return confirm_absent(state)
    if kind == "not_submitted":
        return mark_not_submitted(state)
    assert status is not None
    return observe(state, status, filled)


@given(qty=st.integers(min_value=1, max_value=5), data=st.data())
def test_legal_sequences_end_terminal_and_consistent_with_fills(
    qty: int, data: st.DataObject
) -> None:
    state = OrderState(status=S.PENDING, qty=qty)
    history = [state]
    for _ in range(40):
        if state.is_terminal:
            break
        moves = legal_moves(state)
        assert moves, f"no legal move from {state}"
        state = apply(state, data.draw(st.sampled_from(moves)))
        history.append(state)
    if not state.is_terminal:
        # Finish it the way the service does: cancel what works, give up what never went out.
        if state.status is S.UNKNOWN:
            state = confirm_absent(state)
        if state.status is S.PENDING:
            state = mark_not_submitted(state)
        else:
            state = observe(state, S.CANCELED, state.filled_qty)
        history.append(state)
    assert state.is_terminal
    filled = [s.filled_qty for s in history]
    assert filled == sorted(filled), "filled qty never decreases"
    assert all(0 <= f <= qty for f in filled)
    if state.status is S.FILLED:
        assert state.filled_qty == qty
    elif state.status in (S.REJECTED, S.NOT_SUBMITTED):
        assert state.filled_qty == 0
    else:
        assert state.filled_qty < qty


@given(
    current=st.sampled_from(ALL),
    new=st.sampled_from(sorted(BROKER_STATUSES, key=str)),
    qty=st.integers(min_value=1, max_value=4),
    data=st.data(),
)
def test_illegal_transitions_raise(
    current: OrderStatus, new: OrderStatus, qty: int, data: st.DataObject
) -> None:
    filled = data.draw(st.integers(min_value=0, max_value=qty))
    try:
        check_fills(current, qty, filled)
    except InvariantViolation:
        return  # not a reachable state
    state = OrderState(status=current, qty=qty, filled_qty=filled)
    new_filled = data.draw(st.integers(min_value=0, max_value=qty))
    fills_ok = True
    try:
        check_fills(new, qty, new_filled)
    except InvariantViolation:
        fills_ok = False
    legal = is_legal(current, new) and new_filled >= filled and fills_ok
    if legal:
        assert observe(state, new, new_filled).status is new
    else:
        with pytest.raises(InvariantViolation):
            observe(state, new, new_filled)


@given(qty=st.integers(min_value=1, max_value=6), fills=st.lists(st.integers(-2, 8), max_size=12))
def test_filled_qty_never_decreases_nor_exceeds_qty(qty: int, fills: list[int]) -> None:
    state = observe(OrderState(status=S.PENDING, qty=qty), S.NEW, 0)
    for filled in fills:
        status = S.FILLED if filled == qty else S.PARTIALLY_FILLED
        try:
            new = observe(state, status, filled)
        except InvariantViolation:
            assert filled < state.filled_qty or filled > qty or filled <= 0 or state.is_terminal
            continue
        assert state.filled_qty <= new.filled_qty <= qty
        state = new


def test_terminal_states_do_not_move() -> None:
    for status in (S.FILLED, S.CANCELED, S.EXPIRED, S.REJECTED, S.REPLACED, S.NOT_SUBMITTED):
        assert status.is_terminal
        assert LEGAL_TRANSITIONS[status] == frozenset()
    done = OrderState(status=S.FILLED, qty=2, filled_qty=2)
    with pytest.raises(InvariantViolation):
        observe(done, S.CANCELED, 2)
    assert observe(done, S.FILLED, 2) == done  # a repeated poll is fine


def test_unknown_is_resolved_only_by_a_look_up() -> None:
    unknown = mark_unknown(OrderState(status=S.PENDING, qty=1))
    with pytest.raises(InvariantViolation):
        mark_not_submitted(unknown)  # must be looked up first
    pending = confirm_absent(unknown)
    assert pending.status is S.PENDING
    assert mark_not_submitted(pending).status is S.NOT_SUBMITTED
    with pytest.raises(InvariantViolation):
        confirm_absent(observe(pending, S.NEW, 0))
    with pytest.raises(InvariantViolation):
        mark_unknown(observe(pending, S.NEW, 0))
    with pytest.raises(InvariantViolation):
        observe(pending, S.PENDING, 0)  # internal states are not broker reports


def test_working_statuses_are_the_domains() -> None:
    assert {s for s in OrderStatus if s.is_working} == WORKING_STATUSES
