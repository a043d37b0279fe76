"""The bench plan, its arguments and the admission gate (no Docker)."""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path

import pytest

from mledojo.artifacts import EpisodeStatus
from mledojo.bench.cli import parse_seeds
from mledojo.bench.executors import HARD_CAP, Capacity
from mledojo.bench.plan import (
    BenchError,
    make_plan,
    parse_agent_args,
    resolve_competitions,
    write_plan,
)
from mledojo.bench.scheduler import _Gate, retry_statuses
from mledojo.bench.worker import Outcome
from mledojo.competition import list_competitions


def test_every_agent_competition_seed_once_keyed_by_spec() -> None:
    plan = make_plan(agents=["baseline"], competitions=["pump-failure", "titanic"], seeds=[0, 1, 2])
    assert len(plan.jobs) == 6
    assert len(set(plan.keys)) == 6
    assert {(j.spec.competition, j.spec.seed) for j in plan.jobs} == {
        (c, s) for c in ("pump-failure-v2", "titanic-v1") for s in (0, 1, 2)
    }


def test_the_same_bench_gets_the_same_run_id_and_another_bench_another() -> None:
    a = make_plan(agents=["baseline"], competitions=["pump-failure"], seeds=[0, 1])
    b = make_plan(agents=["baseline"], competitions=["pump-failure"], seeds=[1, 0])
    c = make_plan(
        agents=["baseline"], competitions=["pump-failure"], seeds=[0, 1], budget={"max_steps": 3}
    )
    assert a.default_run_id() == b.default_run_id()
    assert a.default_run_id() != c.default_run_id()  # a budget is part of the key


def test_a_run_folder_of_another_bench_is_refused(tmp_path: Path) -> None:
    write_plan(tmp_path, make_plan(agents=["baseline"], competitions=["titanic"], seeds=[0]))
    write_plan(tmp_path, make_plan(agents=["baseline"], competitions=["titanic"], seeds=[0]))
    with pytest.raises(BenchError, match="holds another bench"):
        write_plan(tmp_path, make_plan(agents=["baseline"], competitions=["titanic"], seeds=[1]))


def test_split_names_expand_and_typos_fail_before_any_work() -> None:
    assert resolve_competitions(["lite"]) == list_competitions("lite")
    with pytest.raises(Exception, match="spaceship-titanic"):
        make_plan(agents=["baseline"], competitions=["spaceship-titanik"], seeds=[0])
    with pytest.raises(Exception, match="basline|baseline"):
        make_plan(agents=["basline"], competitions=["titanic"], seeds=[0])


def test_agent_args_name_their_agent() -> None:
    assert parse_agent_args(["baseline:x=3", "baseline:y=a"], ["baseline", "b"]) == {
        "baseline": {"x": 3, "y": "a"}
    }
    assert parse_agent_args(["x=true"], ["baseline"]) == {"baseline": {"x": True}}
    with pytest.raises(BenchError, match="name one"):
        parse_agent_args(["x=1"], ["a", "b"])
    with pytest.raises(BenchError, match="not in --agents"):
        make_plan(
            agents=["baseline"], competitions=["titanic"], seeds=[0], agent_args={"other": {}}
        )


def test_seeds_are_a_count_a_list_or_a_range() -> None:
    assert parse_seeds("3") == [0, 1, 2]
    assert parse_seeds("4,1") == [1, 4]
    assert parse_seeds("2-4") == [2, 3, 4]
    with pytest.raises(BenchError):
        parse_seeds("x")


def test_retry_infra_adds_infra_errors_only() -> None:
    assert retry_statuses([]) == ("interrupted",)
    assert set(retry_statuses(["infra"])) == {"interrupted", "infra_error"}
    with pytest.raises(BenchError, match="choose from"):
        retry_statuses(["agent"])


class _Fixed:
    name = "fixed"

    def __init__(self, cpus: float, memory_mb: int) -> None:
        self.cap = Capacity(cpus=cpus, memory_mb=memory_mb)

    def capacity(self) -> Capacity:
        return self.cap

    def submit(self, job: object, retry: tuple[EpisodeStatus, ...]) -> Future[Outcome]:
        raise NotImplementedError

    def interrupt(self) -> None: ...

    def close(self) -> None: ...


def test_gate_bounds_workers_cpus_memory_and_start_rate() -> None:
    plan = make_plan(
        agents=["baseline"],
        competitions=["titanic"],
        seeds=[0, 1, 2, 3],
        resources={"cpus": 1, "memory_mb": 1000},
    )
    jobs = plan.jobs
    gate = _Gate(_Fixed(cpus=2, memory_mb=10_000), workers=8, start_interval_s=5.0)
    assert gate.fits(jobs[0], now=100.0)
    gate.take(jobs[0], now=100.0)
    assert not gate.fits(jobs[1], now=101.0)  # too soon after the last start
    assert gate.fits(jobs[1], now=105.0)
    gate.take(jobs[1], now=105.0)
    assert not gate.fits(jobs[2], now=200.0)  # 2 CPUs in use out of 2
    gate.give_back(jobs[0])
    assert gate.fits(jobs[2], now=200.0)
    mem = _Gate(_Fixed(cpus=64, memory_mb=1500), workers=8, start_interval_s=0)
    mem.take(jobs[0], now=0)
    assert not mem.fits(jobs[1], now=1)  # 1000 + 1000 MB > 1500 MB
    workers = _Gate(_Fixed(cpus=64, memory_mb=10**6), workers=1, start_interval_s=0)
    workers.take(jobs[0], now=0)
    assert not workers.fits(jobs[1], now=1)
    assert _Gate(_Fixed(64, 10**6), workers=10_000, start_interval_s=0).slots == HARD_CAP


def test_an_episode_bigger_than_the_machine_runs_alone() -> None:
    plan = make_plan(
        agents=["baseline"], competitions=["titanic"], seeds=[0, 1], resources={"cpus": 8}
    )
    gate = _Gate(_Fixed(cpus=2, memory_mb=10**6), workers=4, start_interval_s=0)
    assert gate.fits(plan.jobs[0], now=0)
    gate.take(plan.jobs[0], now=0)
    assert not gate.fits(plan.jobs[1], now=1)
