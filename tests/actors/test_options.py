"""The options table: restart policy, retries and concurrency as DESIGN.md section 3 says."""

from __future__ import annotations

from actors.options import (
    ACTOR_OPTIONS,
    CONTROL_GROUP,
    LOOP_GROUP,
    ActorName,
    actor_name,
    options_for,
)


def test_every_actor_restarts_forever_except_the_sim_exchange() -> None:
    assert set(ACTOR_OPTIONS) == set(ActorName)
    for name, opts in ACTOR_OPTIONS.items():
        expected = 0 if name is ActorName.SIM_EXCHANGE else -1
        assert opts.max_restarts == expected, name
        assert opts.ray_options()["max_restarts"] == expected


def test_execution_and_risk_are_single_callers_without_retries() -> None:
    for name in (ActorName.EXECUTION, ActorName.RISK):
        opts = options_for(name).ray_options()
        assert opts["max_concurrency"] == 1
        assert opts["max_task_retries"] == 0
    # Pure or idempotent work may be retried after a restart.
    for name in (ActorName.SCANNER, ActorName.MARKET_DATA, ActorName.MONITOR):
        assert options_for(name).max_task_retries == -1


def test_supervisor_control_methods_have_their_own_group() -> None:
    opts = options_for(ActorName.SUPERVISOR)
    assert opts.class_options() == {"concurrency_groups": {LOOP_GROUP: 2, CONTROL_GROUP: 4}}
    assert "concurrency_groups" not in opts.ray_options()  # Ray refuses it in .options()
    # MarketData answers heartbeats and data age while a scan's calls are queued.
    assert options_for(ActorName.MARKET_DATA).class_options() == {
        "concurrency_groups": {CONTROL_GROUP: 2}
    }


def test_scanners_hold_a_cpu_and_the_shells_none() -> None:
    assert options_for(ActorName.SCANNER).num_cpus == 1
    shells = set(ActorName) - {ActorName.SCANNER}
    assert all(options_for(name).num_cpus == 0 for name in shells)


def test_names() -> None:
    assert actor_name(ActorName.SCANNER, 3) == "scanner-3"
    assert actor_name(ActorName.SUPERVISOR) == "supervisor"
