"""The errors of the model layer; each message says what to do next and never holds a key."""

from __future__ import annotations

from mledojo.errors import DependencyNotInstalledError, MLEDojoError, ModelAccessError


class LLMError(MLEDojoError):
    """Base class of every error raised on purpose by `mledojo.llm`."""


class LLMBudgetExceeded(LLMError):
    """A hard token or dollar budget is used up; no further call is sent."""


class ModelNameError(LLMError, ModelAccessError, ValueError):
    """A model name is not `provider/name` with a known provider."""


class MissingAPIKeyError(LLMError, ModelAccessError):
    """The environment variable that holds the provider's API key is not set on the host."""

    def __init__(self, variable: str) -> None:
        super().__init__(
            f"{variable} is not set: export it in the host shell that runs mledojo "
            "(it is never passed into a container)."
        )
        self.variable = variable


class SDKNotInstalledError(LLMError, ModelAccessError, DependencyNotInstalledError):
    """The provider's SDK is missing; the message gives the install command (the `llm` extra)."""

    def __init__(self, package: str) -> None:
        DependencyNotInstalledError.__init__(self, package, "llm")
        self.package = package


class LLMCallError(LLMError):
    """The provider failed (after the allowed retries) or refused the request."""

    def __init__(self, message: str, *, status: int | None = None, attempts: int = 1) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts


class LLMAccessError(LLMCallError, ModelAccessError):
    """The provider refused access (401, 403), does not serve the model (404), or could not be
    reached or stayed down (connection failures, 429, 5xx) through every allowed retry."""


def is_access_failure(status: int | None) -> bool:
    """Whether a final call failure with this HTTP status (None: no HTTP reply, the connection
    failed) means the model cannot be used, rather than that this one request was refused."""
    return status is None or status in (401, 403, 404, 429) or status >= 500


class LLMTimeoutError(LLMCallError):
    """No complete reply within the per-call timeout (on every allowed attempt)."""


class LLMCancelledError(LLMError):
    """The client was cancelled; in-flight calls were aborted and their connections closed."""


class LLMOutputError(LLMError):
    """The reply did not match the requested schema, even after the one repair round."""


class LLMReplayError(LLMError):
    """A replayed episode asked for a call that the recording does not hold (divergence)."""


class PriceTableError(LLMError, ModelAccessError):
    """A price table file is unreadable or a budgeted model has no price."""
