"""The resolved, versioned `EpisodeSpec`: one resolution, versioned keys, old keys still found.

An old run is built here the way the previous code wrote it: its key by the previous
hashing rule (rule 1, and rule 2 before the image joined the key), written out below
(`_old_rule_key`, `_rule_2_key`), not by calling the new code.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, ClassVar

import pytest

from mledojo.agent import Agent
from mledojo.artifacts import EpisodeResult
from mledojo.bench.plan import BenchError, load_plan, make_plan, write_plan
from mledojo.layout import RunLayout
from mledojo.leaderboard.episode import load_episodes
from mledojo.play import run_episode
from mledojo.resolve import resolve_spec
from mledojo.sandbox.image import image_tag
from mledojo.spec import KEY_VERSION, AgentRef, Budget, EpisodeSpec, Resources

NEW_FIELDS = {"key_version", "data_variant", "mode", "image"}  # fields rule 1 never had


def _old_rule_key(spec: dict[str, Any]) -> str:
    """The key rule before key versions: sha256 of the spec's sorted, compact JSON, 12 hex."""
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


class MustNotPlay(Agent):
    """Fails loudly if the episode is played again instead of found."""

    name: ClassVar[str] = "finder"

    def act(self, observation: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError("the finished episode was played again")


def _old_run(
    runs: Path, spec: dict[str, Any], key: str | None = None, image: str | None = None
) -> Path:
    """A finished episode as the previous code filed it: by default rule 1's key and no
    `key_version`; `key` (and `spec` as given) for a later rule; the image it ran in
    `sandbox.image` only (no older rule keyed it)."""
    key = key or _old_rule_key(spec)
    folder = runs / "old" / spec["competition"] / "finder" / f"seed-0-data-0-{key}"
    folder.mkdir(parents=True)
    result = {
        "schema_version": 2,
        "key": key,
        "spec": spec,
        "competition": "pump-failure",
        "competition_version": 2,
        "data_seed": 0,
        "agent": "finder",
        "seed": 0,
        "status": "completed",
        "end_reason": "submitted",
        "steps": 2,
        "wall_time_s": 3.5,
        "best_public_score": 0.8,
        "best_public_human_rank": 0.5,
        "final": {"graded": True, "reason": "submitted", "private_score": 0.81},
        "metric": "roc_auc",
        "higher_is_better": True,
        "sandbox": {"kind": spec["sandbox"], "image": image},
    }
    (folder / "result.json").write_text(json.dumps(result))
    return folder


def test_a_result_filed_by_the_previous_key_rule_is_found_on_resume(tmp_path: Path) -> None:
    resolved = resolve_spec("pump-failure", agent="finder", sandbox="local")
    old_spec = resolved.spec.model_dump(mode="json", exclude=NEW_FIELDS)
    folder = _old_run(tmp_path, old_spec)
    assert resolved.spec.key != folder.name.rsplit("-", 1)[-1]  # the rule did change
    result = run_episode(resolved, agent=MustNotPlay(), runs_dir=tmp_path, run_id="old")
    assert result.key == _old_rule_key(old_spec) and result.status == "completed"
    assert result.spec is not None and result.spec.key == result.key  # it checks out
    assert result.spec.same_episode(resolved.spec)
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]  # nothing new
    # the board built from the run folder takes it
    (episode,) = load_episodes([tmp_path / "old"])
    assert episode.private_score == pytest.approx(0.81)


def test_retrying_an_old_result_sets_it_aside_and_files_the_new_one_by_the_new_rule(
    tmp_path: Path,
) -> None:
    resolved = resolve_spec("pump-failure", agent="finder", sandbox="local")
    folder = _old_run(tmp_path, resolved.spec.model_dump(mode="json", exclude=NEW_FIELDS))

    class Submits(Agent):
        name: ClassVar[str] = "finder"

        def act(self, observation: dict[str, Any]) -> dict[str, Any]:
            return {"action": "submit"}

    again = run_episode(
        resolved, agent=Submits(), runs_dir=tmp_path, run_id="old", retry=("completed",)
    )
    assert again.key == resolved.spec.key and again.spec is not None
    assert again.spec.key_version == KEY_VERSION
    layout = RunLayout(tmp_path, "old")
    assert layout.finished(resolved.spec) == layout.episode_folder(resolved.spec)
    assert layout.attempts_before(resolved.spec) == 1
    assert not folder.exists()


def test_the_key_hashes_its_rule_version() -> None:
    spec = EpisodeSpec(
        competition="toy-v1",
        agent=AgentRef(name="baseline", args={"k": 1}),
        seed=0,
        data_seed=0,
        sandbox="docker",
        reward="final_only",
        budget=Budget(),
        resources=Resources(),
    )
    content = spec.model_dump(mode="json", exclude=NEW_FIELDS)
    assert spec.key_for(1) == _old_rule_key(content)
    rule_2 = {**content, "data_variant": None, "mode": "evaluation", "key_version": 2}
    assert spec.key_for(2) == _old_rule_key(rule_2) != spec.key_for(1)
    assert spec.key == _old_rule_key({**rule_2, "image": None, "key_version": 3}) != spec.key_for(2)
    assert spec.keys() == [spec.key, spec.key_for(2), spec.key_for(1)]
    stored = EpisodeResult.model_validate(
        {
            "key": spec.key_for(1),
            "spec": content,
            "competition": "toy",
            "competition_version": 1,
            "data_seed": 0,
            "agent": "baseline",
            "seed": 0,
            "status": "completed",
            "end_reason": "",
            "steps": 0,
            "wall_time_s": 0,
            "best_public_score": None,
            "best_public_human_rank": None,
            "final": {"graded": False},
            "metric": "accuracy",
            "higher_is_better": True,
            "sandbox": "docker",
        }
    )
    assert stored.spec is not None and stored.spec.key_version == 1
    assert stored.spec.key == stored.key


def test_resolve_checks_every_name_and_field_once() -> None:
    resolved = resolve_spec("pump-failure", sandbox="local", budget={"max_steps": 3})
    assert resolved.spec.competition == resolved.competition.spec.versioned_id
    assert resolved.spec.budget.max_steps == 3 and resolved.spec.sandbox == "local"
    with pytest.raises(ValueError, match="Did you mean `max_steps`"):
        resolve_spec("pump-failure", sandbox="local", budget={"max_step": 3})
    with pytest.raises(ValueError, match="unknown reward mode"):
        resolve_spec("pump-failure", sandbox="local", reward="fast")


def test_a_schema_1_bench_plan_is_still_read_with_its_old_keys(tmp_path: Path) -> None:
    spec = resolve_spec("pump-failure", agent="baseline", sandbox="local").spec
    old_spec = spec.model_dump(mode="json", exclude=NEW_FIELDS)
    job = {
        "competition": "pump-failure",
        "agent": "baseline",
        "agent_args": {},
        "seed": 0,
        "data_seed": None,
        "sandbox": "local",
        "reward": "final_only",
        "budget": {},
        "resources": {},
        "spec": old_spec,
    }
    (tmp_path / "bench.json").write_text(json.dumps({"schema_version": 1, "jobs": [job]}))
    (loaded,) = load_plan(tmp_path).jobs
    assert loaded.key == _old_rule_key(old_spec) and loaded.spec.same_episode(spec)
    (tmp_path / "bench.json").write_text(json.dumps({"schema_version": 1, "jobs": [{}]}))
    with pytest.raises(BenchError, match="(?s)not a valid bench plan.*each hold a `spec`"):
        load_plan(tmp_path)


def test_an_env_given_a_resolved_spec_refuses_its_fields_twice() -> None:
    from mledojo.env import MLEDojoEnv

    resolved = resolve_spec("pump-failure", sandbox="local")
    with pytest.raises(TypeError, match=r"\['budget'\] from the spec"):
        MLEDojoEnv(resolved.competition, spec=resolved.spec, budget={"max_steps": 2})
    with pytest.raises(ValueError, match="spec= names pump-failure-v2"):
        MLEDojoEnv("pump-failure-v1", spec=resolved.spec)


# ------------------------------------------------- key rule 3: the image asked for

EXTENDED = "mledojo-runtime-ext:0123456789ab"  # never run here: only filed and compared


def _rule_2_key(spec: dict[str, Any]) -> str:
    """Rule 2: sha256 of the spec's sorted, compact JSON with `key_version: 2`, 12 hex."""
    return _old_rule_key({**spec, "key_version": 2})


def _rule_2_run(runs: Path, spec: dict[str, Any], image: str | None) -> Path:
    """A finished episode as the code before rule 3 filed it: no `image` in its spec."""
    return _old_run(runs, {**spec, "key_version": 2}, key=_rule_2_key(spec), image=image)


def _old_fields(spec: Any) -> dict[str, Any]:
    fields: dict[str, Any] = spec.model_dump(mode="json", exclude={"key_version", "image"})
    return fields


def test_the_image_is_part_of_the_key() -> None:
    default = resolve_spec("pump-failure", sandbox="docker").spec
    extended = resolve_spec("pump-failure", sandbox="docker", image=EXTENDED).spec
    other = resolve_spec("pump-failure", sandbox="docker", image=EXTENDED + "x").spec
    assert default.image is None and extended.image == EXTENDED
    assert len({default.key, extended.key, other.key}) == 3
    # the runtime image named by its tag is the default image: the same episode
    assert resolve_spec("pump-failure", sandbox="docker", image=image_tag()).spec == default
    # no older rule can express an image: only its own key
    assert extended.keys() == [extended.key]
    with pytest.raises(ValueError, match="needs the Docker sandbox, not local"):
        resolve_spec("pump-failure", sandbox="local", image=EXTENDED)


def test_a_result_filed_by_key_rule_2_is_found_on_resume(tmp_path: Path) -> None:
    """Migration: a run made before the image joined the key is resumed, not played again."""
    resolved = resolve_spec("pump-failure", agent="finder", sandbox="local")
    old = _old_fields(resolved.spec)
    folder = _rule_2_run(tmp_path, old, image=None)
    assert resolved.spec.key != _rule_2_key(old)  # the rule did change
    result = run_episode(resolved, agent=MustNotPlay(), runs_dir=tmp_path, run_id="old")
    assert result.key == _rule_2_key(old) and result.status == "completed"
    assert result.spec is not None and result.spec.key == result.key  # it checks out
    assert result.spec.key_version == 2 and result.spec.same_episode(resolved.spec)
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]  # nothing new


def test_an_older_rule_result_on_another_image_is_not_resumed(tmp_path: Path) -> None:
    """`mledojo run --image` filed its episode under a key without the image (decision 75):
    resumed on the runtime image, or on another image, that episode is not this one."""
    default = resolve_spec("pump-failure", agent="finder", sandbox="docker").spec
    layout = RunLayout(tmp_path, "old")
    on_extended = _rule_2_run(tmp_path, _old_fields(default), image=EXTENDED)
    assert layout.finished(default) is None
    asked = resolve_spec("pump-failure", agent="finder", sandbox="docker", image=EXTENDED).spec
    assert layout.finished(asked) is None  # an image never takes an older rule's folder
    # the same folder recording the runtime image (any version of it) is the episode's
    result = json.loads((on_extended / "result.json").read_text())
    result["sandbox"]["image"] = "mledojo-runtime:000000000000"
    (on_extended / "result.json").write_text(json.dumps(result))
    assert layout.finished(default) == on_extended
    assert layout.finished(asked) is None


def test_a_bench_on_another_image_is_another_run(tmp_path: Path) -> None:
    """The same bench with another image gets its own run folder, and a run folder of the
    other image refuses it, instead of handing back that image's plan and episodes."""
    plans = {
        image: make_plan(
            agents=["baseline"],
            competitions=["pump-failure"],
            seeds=[0, 1],
            sandbox="docker",
            image=image,
        )
        for image in (None, EXTENDED)
    }
    assert [j.spec.image for j in plans[EXTENDED].jobs] == [EXTENDED, EXTENDED]
    assert plans[None].default_run_id() != plans[EXTENDED].default_run_id()
    # without an image the run id is still the one older versions derived (rule-1 keys)
    old_ids = sorted(j.spec.key_for(1) for j in plans[None].jobs)
    assert plans[None].digest() == hashlib.sha256("\n".join(old_ids).encode()).hexdigest()[:12]
    run = tmp_path / "run"
    write_plan(run, plans[EXTENDED])
    with pytest.raises(BenchError, match=r"holds another bench.*images \['mledojo-runtime-ext"):
        write_plan(run, plans[None])
    assert write_plan(run, plans[EXTENDED]).jobs == plans[EXTENDED].jobs


def test_make_files_the_image_of_its_sandbox_options_under_the_spec() -> None:
    """`make(..., sandbox_options={"image": tag})` (docs/sandbox.md) keys the episode by it;
    an env given a resolved spec takes the image from the spec only."""
    from mledojo.env import MLEDojoEnv

    env = MLEDojoEnv("pump-failure", sandbox="docker", sandbox_options={"image": EXTENDED})
    try:
        assert env.base_spec.image == EXTENDED
        assert (
            env.base_spec.key
            == resolve_spec("pump-failure", seed=None, sandbox="docker", image=EXTENDED).spec.key
        )
    finally:
        env.close()
    resolved = resolve_spec("pump-failure", sandbox="docker")
    with pytest.raises(TypeError, match=r"sandbox_options\['image'\].*from the spec"):
        MLEDojoEnv(resolved.competition, spec=resolved.spec, sandbox_options={"image": EXTENDED})
