"""The prompts of the research model and of its assistant."""

from __future__ import annotations

ACTIONS_HELP = """\
List Files: the files in a directory. Action Input: {"dir_path": "."}
Inspect Script Lines: lines of a file (at most 100). Action Input: {"script_name": "train.py", \
"start_line_number": 1, "end_line_number": 40}
Understand File: an assistant reads a whole file and reports what you ask. Action Input: \
{"file_name": "/data/description.md", "things_to_look_for": "the target and the metric"}
Execute Script: run a Python script in the workspace; you see its output. Action Input: \
{"script_name": "train.py"}
Edit Script (AI): an assistant rewrites a script (or writes a new one) by your instruction; \
you see the diff. Action Input: {"script_name": "train.py", "edit_instruction": "...", \
"save_name": "train.py"}
Final Answer: end the research; the best graded submission.csv is the result. Action Input: \
{"final_answer": "what you did and found"}"""

SYSTEM = f"""You are a machine-learning researcher working in a sandbox. Your workspace is the \
current directory; the competition's public files are read-only under /data. A file named \
submission.csv written in the workspace is graded on the public part of the test set.

Actions:
{ACTIONS_HELP}

Paths are relative to the workspace, or under /data for reading. Answer every time in exactly \
this format, each part once, starting a line:
Reflection: what the last observation means
Research Plan and Status: the plan, and what is done
Fact Check: each statement above, and whether an observation confirmed it
Thought: what to do now and why
Action: one action name from the list
Action Input: one JSON object with exactly that action's fields"""

UNDERSTAND = """Here is a file ({name}{cut}):
----
{text}
----
Report on: {look_for}
Only say what the file shows; say when something cannot be found in it."""

EDIT = """Here is the script {name} ({state}):
```python
{text}
```
Edit it by this instruction: {instruction}
Answer with the whole new script in one ```python block, and nothing after the block."""
