"""The MLE-Bot's library parts: phase schemas, planners, the Monty runner, the report."""
