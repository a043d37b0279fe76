"""The prompts of the critic (what to try next) and of the actor (the code that tries it)."""

from __future__ import annotations

SETTING = """You work on a machine-learning competition in a sandbox. The workspace is the \
current directory (a git repository the loop owns); the competition's public files are \
read-only in the directory named by the environment variable MLEDOJO_DATA (default /data). \
task.json in the workspace describes the task (metric, direction, target, id column, \
submission columns). {layout}
Every script must also run on a small sample when the environment variable MLEDOJO_SMOKE is \
"1" (the smoke test: read a few hundred rows, train briefly, still write its outputs). A \
script may print `hold-out score: <number>` (the metric on its own hold-out split)."""

GREENFIELD = """The solution is three files: model.py (the model and its features), train.py \
(fits on the training data and saves the fitted model in the workspace) and predict.py (loads \
it and writes submission.csv in the workspace). The loop runs `python train.py` then \
`python predict.py`."""

BROWNFIELD = """The solution is one script, solution.py (a given baseline you improve), which \
trains and writes submission.csv in the workspace; you may add helper modules it imports. \
The loop runs `python solution.py`."""

CRITIC = """You are the critic of a hill-climbing loop. Each round you propose ONE change; an \
actor implements it; it is smoke-tested, trained and scored; an improvement is committed, \
anything else reverted. Propose the single change most likely to improve the score next, \
small enough to implement in one go. Set stop to true only when nothing is worth trying."""

ACTOR = """You are the actor of a hill-climbing loop: implement exactly the proposed change. \
Answer with whole files (path relative to the workspace, full content), only .py, .txt, \
.json, .yaml, .cfg, .toml or .md files, never submission.csv, task.json, .gitignore or \
anything under .git. `commands` may list `python <script>.py [args]` to run before the smoke \
test (no shell, no other program); anything else is refused and logged."""

STATE = """Competition: {competition}
Metric: {metric} ({direction} is better){target}
Best score so far: {best}
Rounds so far (newest last):
{history}
The current files:
{files}"""
