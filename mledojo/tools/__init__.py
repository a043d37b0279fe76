"""Trusted tools that run inside the sandbox for the `call_tool` action.

This package is copied into the runtime image at `/opt/mledojo/tools/` and imported there
by the runner under a private name, so it must not import `mledojo`; it uses the standard
library, numpy, pandas, pyarrow, pydantic, scikit-learn, xgboost and lightgbm. Every tool
takes a JSON object and returns one; tables, models and predictions move between tools as
files under `/workspace/tools/`. See docs/tools.md.
"""
