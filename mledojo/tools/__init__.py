"""Trusted tools that run inside the sandbox for the `call_tool` action.

This package is copied into the runtime image at `/opt/mledojo/tools/` and imported there
by the runner under a private name, so it must not import `mledojo` and may only use the
standard library, numpy and pandas. Every tool takes a JSON object and returns one.
"""
