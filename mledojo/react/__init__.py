"""The ReAct research agent (MLAgentBench style): a research model answering in a fixed
format, a supporting assistant model for Understand File and Edit Script, and actions that run
in the episode's sandbox. The agent class is `agents/react/agent.py`; see docs/agents/react.md.
"""
