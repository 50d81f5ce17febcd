"""The state documents are plain JSON and round-trip exactly (NaN included)."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from agent.clock import SimClock
from agent.domain import OrderPurpose, StructureKind
from agent.risk.book import Approval
from agent.risk.codec import (
    decode_account,
    decode_datetime,
    decode_mark,
    encode_account,
    encode_datetime,
    encode_mark,
)
from agent.risk.greeks import candidate_legs
from tests.unit.risk.helpers import (
    NOW,
    WIDE,
    account,
    candidate,
    make_service,
    make_settings,
    mark,
    memory_store,
)


def test_marks_round_trip_through_plain_json() -> None:
    original = replace(
        mark("t1", qty=3),
        prob_touch=0.25,
        short_distance_pct=5.0,
        min_short_put_extrinsic=0.1,
        quote_problems=("wide",),
    )
    document = json.loads(json.dumps(encode_mark(original), allow_nan=False))
    assert decode_mark(document) == original
    with_nan = mark("t2")  # prob_touch and friends default to NaN
    decoded = decode_mark(json.loads(json.dumps(encode_mark(with_nan), allow_nan=False)))
    assert math.isnan(decoded.prob_touch)
    assert encode_mark(decoded) == encode_mark(with_nan)


def test_accounts_and_datetimes_round_trip() -> None:
    acct = account(Decimal("123456.78"), last_equity=Decimal("120000.01"))
    assert decode_account(json.loads(json.dumps(encode_account(acct)))) == acct
    assert decode_datetime(encode_datetime(NOW)) == NOW
    with pytest.raises(ValueError, match="aware"):
        encode_datetime(NOW.replace(tzinfo=None))


def test_approvals_round_trip() -> None:
    cand = candidate()
    legs = candidate_legs(cand)
    assert legs is not None
    approval = Approval(
        decision_id="risk-1",
        candidate_id=cand.candidate_id,
        underlying="XYZ",
        sector="XYZ",
        strategy=StructureKind.BULL_PUT_SPREAD,
        purpose=OrderPurpose.OPEN,
        rolled_from_trade_id=None,
        qty=3,
        max_loss_usd=Decimal(1200),
        capital_usd=Decimal(1200),
        approved_at=NOW,
        spot=100.0,
        greeks=cand.greeks.scaled(3),
        legs=tuple(leg.scaled(3) for leg in legs),
    )
    document = json.loads(json.dumps(approval.encode(), allow_nan=False))
    assert Approval.decode(document) == approval


def test_view_before_any_update_uses_the_latest_account_snapshot(tmp_path: Path) -> None:
    store = memory_store()
    with store.transaction() as tx:
        tx.account_snapshots.add(account(80_000, as_of=NOW - timedelta(hours=1)))
    service = make_service(store, SimClock(NOW), make_settings(tmp_path, *WIDE))
    view = service.view()
    assert view.equity_usd == Decimal(80_000)
    assert view.heat_pct_of_equity == 0.0
    service.halt("look")
    text = "\n".join(service.view().lines())
    assert "HALTED" in text and "breaker manual: halted, clears manual — look" in text
