"""Test helpers shipped with mledojo: a scripted LLM server speaking the providers' formats."""

from mledojo.testing.llm_server import RecordedRequest, Reply, ScriptedLLMServer, ScriptedUsage

__all__ = ["RecordedRequest", "Reply", "ScriptedLLMServer", "ScriptedUsage"]
