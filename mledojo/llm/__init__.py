"""The model layer: one client over the `openai` and `anthropic` SDKs (and OpenAI-compatible
servers), structured output into pydantic models, usage and dollar accounting with hard budgets,
and a record of every call that replays deterministically.

    meter = UsageMeter(max_tokens=200_000, max_usd=2.0)
    client = make_client("openai/gpt-5-mini", meter=meter, record_dir=run_dir, timeout_s=120,
                         max_retries=4)
    design, usage = client.structured(messages, Design, purpose="design")

The SDKs are imported on first use (`pip install 'mledojo[llm]'`); importing this package does not.
"""

from mledojo.errors import ModelAccessError
from mledojo.llm.client import LLMClient, make_client
from mledojo.llm.errors import (
    LLMAccessError,
    LLMBudgetExceeded,
    LLMCallError,
    LLMCancelledError,
    LLMError,
    LLMOutputError,
    LLMReplayError,
    LLMTimeoutError,
    MissingAPIKeyError,
    ModelNameError,
    PriceTableError,
    SDKNotInstalledError,
)
from mledojo.llm.meter import UsageMeter, UsageTotals
from mledojo.llm.models import CallUsage, Message, ModelRef, parse_model
from mledojo.llm.prices import PriceTable
from mledojo.llm.record import RECORD_FILE, CallRecord
from mledojo.llm.retry import RetryPolicy

__all__ = [
    "RECORD_FILE",
    "CallRecord",
    "CallUsage",
    "LLMBudgetExceeded",
    "LLMAccessError",
    "LLMCallError",
    "LLMCancelledError",
    "LLMClient",
    "LLMError",
    "LLMOutputError",
    "LLMReplayError",
    "LLMTimeoutError",
    "Message",
    "MissingAPIKeyError",
    "ModelAccessError",
    "ModelNameError",
    "ModelRef",
    "PriceTable",
    "PriceTableError",
    "RetryPolicy",
    "SDKNotInstalledError",
    "UsageMeter",
    "UsageTotals",
    "make_client",
    "parse_model",
]
