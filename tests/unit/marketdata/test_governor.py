from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from agent.marketdata.governor import Priority, RateGovernor


class FakeTime:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_never_more_than_the_limit_in_any_window() -> None:
    now = FakeTime()
    gov = RateGovernor(200, now_s=now)
    grants: list[float] = []
    while now.t < 300:
        wait = gov.try_acquire(Priority.EXIT)
        if wait == 0.0:
            grants.append(now.t)
        else:
            now.t += wait
    for i, t in enumerate(grants):
        in_window = [g for g in grants[i:] if g < t + 60.0]
        assert len(in_window) <= 200


def test_scans_leave_headroom_for_exits() -> None:
    now = FakeTime()
    gov = RateGovernor(200, now_s=now)
    scans = 0
    while gov.try_acquire(Priority.SCAN) == 0.0:
        scans += 1
    assert scans == 140  # 30% of the window is reserved for more important requests
    exits = 0
    while gov.try_acquire(Priority.EXIT) == 0.0:
        exits += 1
    assert exits == 60
    assert gov.try_acquire(Priority.EXIT) > 0


def test_wait_time_is_when_a_slot_frees() -> None:
    now = FakeTime()
    gov = RateGovernor(2, now_s=now)
    assert gov.try_acquire(Priority.EXIT) == 0.0
    now.t = 10.0
    assert gov.try_acquire(Priority.EXIT) == 0.0
    now.t = 20.0
    assert gov.try_acquire(Priority.EXIT) == 40.0
    now.t = 60.0
    assert gov.try_acquire(Priority.EXIT) == 0.0


@given(st.lists(st.tuples(st.floats(0, 5), st.sampled_from(list(Priority))), max_size=400))
def test_sliding_window_bound_holds_for_any_request_pattern(
    steps: list[tuple[float, Priority]],
) -> None:
    now = FakeTime()
    gov = RateGovernor(20, now_s=now)
    grants: list[float] = []
    for dt, prio in steps:
        now.t += dt
        if gov.try_acquire(prio) == 0.0:
            grants.append(now.t)
    for i, t in enumerate(grants):
        assert sum(1 for g in grants[i:] if g < t + 60.0) <= 20


def test_local_limiter_sleeps_until_granted() -> None:
    from agent.marketdata.governor import LocalLimiter

    now = FakeTime()
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now.t += s

    limiter = LocalLimiter(RateGovernor(1, now_s=now), sleep=sleep)
    limiter.acquire(Priority.EXIT)
    limiter.acquire(Priority.EXIT)
    assert slept == [60.0] and limiter.waited_s == 60.0
