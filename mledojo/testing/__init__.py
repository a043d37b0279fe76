"""Test helpers shipped with mledojo: a scripted LLM server speaking the providers' formats,
and (`mledojo.testing.scripted_bot`, imported on its own) a scripted ML engineer behind it."""

from mledojo.testing.llm_server import RecordedRequest, Reply, ScriptedLLMServer, ScriptedUsage

__all__ = ["RecordedRequest", "Reply", "ScriptedLLMServer", "ScriptedUsage"]
