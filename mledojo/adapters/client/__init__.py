"""The driver's side of the bridge (`mledojo_bridge.py`): put this folder on a driver's
`PYTHONPATH`; it needs only the standard library, since it runs in the agent's own venv."""
