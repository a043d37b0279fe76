"""How many times one bench episode changes module on its way from the CLI to `result.json`.

Traces, with `sys.setprofile`, what `mledojo bench` does for one episode, in one process:
the plan (`mledojo.bench.plan.make_plan`, as the CLI calls it), then the worker's own
entry point (`mledojo.bench.worker.main`, the job's JSON on stdin, as the scheduler's
child process gets it), which plays the episode and writes `result.json`. The agent is a
tiny scripted one (reset, copy the sample submission, submit) and the sandbox is
`unsafe-local`, so the count is about the route, not about a model or a container.

Counting (main thread only; the grading worker and the sandbox's runner are other
processes and are not traced; the process's caches are cleared before the plan and
before the worker, which runs in a process of its own in a real bench):

* a *call* is a Python function call whose code lives in a module of the `mledojo`
  package; calls made while a module is being imported (a `<module>` frame on the stack)
  are left out, so lazy imports do not count;
* a *stay* is a maximal run of consecutive calls into the same module; two views are
  printed: `modules` (every module a room) and `layers` (each subpackage off the route,
  such as `mledojo.sandbox` or `mledojo.grading`, one room; calls into the leaf modules of
  values and helpers every layer uses, `LEAVES`, skipped: they are carried, not visited);
* a *room* is a distinct module with at least one stay;
* a module's *height* is the index of its first stay (the route enters it there); a
  *climb* is a stay in a module higher on the route (a smaller height) than the module of
  the stay before it: the route had gone below that module and comes back up to work in
  it again. A route that goes down once per layer and back once has no climbs.

Also printed: name lookups (`get_competition` and `load_one` calls) and `EpisodeSpec`
builds (instances validated). `--smoke` runs the same thing (it is already small).

    python benchmarks/route_count.py [--competition pump-failure] [--show]
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mledojo.agent import Agent

PACKAGE = "mledojo"
#: Subpackages that are one room each in the layer view: what they do inside is not the route.
FOLDED = ("sandbox", "grading", "tools", "data", "llm", "leaderboard", "bot", "testing")
#: Modules of values and helpers that every layer uses (a leaf imports no other layer):
#: the layer view skips calls into them, they are what the route carries, not a stop on it.
LEAVES = ("spec", "errors", "types", "spaces", "_files", "_process")


class RouteAgent(Agent):
    """Copies the sample submission to the workspace, then submits: the shortest episode."""

    name = "route"

    def __init__(self) -> None:
        self._acted = False

    def act(self, observation: dict[str, Any]) -> dict[str, Any]:
        if self._acted:
            return {"action": "submit"}
        self._acted = True
        code = (
            "import glob, shutil\n"
            "shutil.copy(sorted(glob.glob('/data/sample_submission*.csv'))[0], "
            "'/workspace/submission.csv')\n"
        )
        return {"action": "execute_code", "code": code}


@dataclass
class Route:
    """The stays of one traced run, and the counters the docstring defines."""

    calls: list[str] = field(default_factory=list)  # the module of each call, runs merged
    lookups: int = 0
    spec_builds: int = 0
    _importing: int = 0

    def profile(self, frame: types.FrameType, event: str, arg: object) -> None:
        code = frame.f_code
        if code.co_name == "<module>" and event in ("call", "return"):
            self._importing += 1 if event == "call" else -1
            return
        if event != "call" or self._importing > 0:
            return
        if code.co_name in ("__init__", "model_validate") and _builds_spec(frame):
            self.spec_builds += 1
        module = frame.f_globals.get("__name__", "")
        if not (module == PACKAGE or module.startswith(PACKAGE + ".")):
            return
        if code.co_name in ("get_competition", "load_one"):
            self.lookups += 1
        if not self.calls or self.calls[-1] != module:
            self.calls.append(module)

    def stays(self, *, fold: bool) -> list[str]:
        """The stays; with `fold`, each folded subpackage is one room and leaves are skipped."""
        rooms = [_layer(m) for m in self.calls if _layer(m) != ""] if fold else self.calls
        return [m for i, m in enumerate(rooms) if i == 0 or rooms[i - 1] != m]


def climbs(stays: list[str]) -> int:
    """Stays in a module higher on the route than the stay before (see the docstring)."""
    height: dict[str, int] = {}
    for i, module in enumerate(stays):
        height.setdefault(module, i)
    return sum(
        1 for before, now in zip(stays, stays[1:], strict=False) if height[now] < height[before]
    )


def _layer(module: str) -> str:
    """`mledojo.sandbox.local` -> `mledojo.sandbox` for the subpackages off the route."""
    parts = module.split(".")
    if len(parts) == 2 and parts[1] in LEAVES:
        return ""
    if len(parts) > 2 and parts[1] in FOLDED:
        return ".".join(parts[:2])
    return module


def _builds_spec(frame: types.FrameType) -> bool:
    """Whether this `__init__`/`model_validate` frame builds an `EpisodeSpec`."""
    local = frame.f_locals
    target = local.get("self", local.get("cls"))
    cls = target if isinstance(target, type) else type(target)
    return cls.__name__ == "EpisodeSpec"


def _as_new_process() -> None:
    """Forget what a new process would not know: the competition catalogue's cache."""
    import mledojo.competition

    if hasattr(mledojo.competition, "_catalogue"):
        mledojo.competition._catalogue = None


def trace(competition: str, runs_dir: Path) -> Route:
    """Plan and play one episode under the profiler; returns its route."""
    from mledojo.bench import worker
    from mledojo.bench.plan import make_plan

    route = Route()
    _as_new_process()
    sys.setprofile(route.profile)
    try:
        plan = make_plan(
            agents=[f"{__name__}:RouteAgent"],
            competitions=[competition],
            seeds=[0],
            sandbox="unsafe-local",
            budget={"max_steps": 3},
        )
        (job,) = plan.jobs
        sys.setprofile(None)
        _as_new_process()  # the worker is a child process of its own
        sys.setprofile(route.profile)
        stdin, sys.stdin = sys.stdin, io.StringIO(job.model_dump_json())
        try:
            code = worker.main([str(runs_dir), "route", "", str(runs_dir / "outcome.json")])
        finally:
            sys.stdin = stdin
    finally:
        sys.setprofile(None)
    if code != 0:
        raise SystemExit(f"the worker exited with {code}")
    found = list(runs_dir.rglob("result.json"))
    if len(found) != 1:
        raise SystemExit(f"expected one result.json under {runs_dir}, found {len(found)}")
    return route


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--competition", default="pump-failure")
    parser.add_argument("--show", action="store_true", help="print the stays in order")
    parser.add_argument("--smoke", action="store_true", help="CI: the same run (already small)")
    args = parser.parse_args()
    import mledojo

    mledojo.prepare(args.competition)  # data cached before tracing: the route, not the build
    with tempfile.TemporaryDirectory() as tmp:
        route = trace(args.competition, Path(tmp))
    for fold, label in ((True, "layers"), (False, "modules")):
        stays = route.stays(fold=fold)
        if args.show:
            print(f"{label}: " + " > ".join(s.removeprefix("mledojo.") for s in stays))
        print(
            f"route ({label}): {len(stays)} stays in {len(set(stays))} rooms, "
            f"{climbs(stays)} climbs"
        )
    print(f"name lookups: {route.lookups}; EpisodeSpec builds: {route.spec_builds}")


if __name__ == "__main__":
    sys.modules.setdefault(__name__, sys.modules["__main__"])
    main()
