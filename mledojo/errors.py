"""One exception hierarchy for mledojo; every message says what to do next."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class MLEDojoError(Exception):
    """Base class of every error raised on purpose by mledojo."""


def did_you_mean(name: str, known: Iterable[str]) -> tuple[list[str], str]:
    """The known names closest to `name`, and a " Did you mean `a`, `b`?" hint (or "")."""
    close = difflib.get_close_matches(name, sorted(set(known)), n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(f'`{c}`' for c in close)}?" if close else ""
    return close, hint


class CompetitionNotFoundError(MLEDojoError, KeyError):
    """An id names no registered competition (or no such version of one)."""

    def __init__(self, competition_id: str, known: Iterable[str]) -> None:
        close, hint = did_you_mean(competition_id, known)
        msg = f"No competition `{competition_id}`.{hint} Run `mledojo list` to see them all."
        super().__init__(msg)
        self.competition_id = competition_id
        self.suggestions = close

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0])


class SpecError(MLEDojoError):
    """A competition folder (competition.yaml and friends) is broken."""

    def __init__(
        self, path: object, problems: list[str], *, competition_id: str | None = None
    ) -> None:
        self.path = path
        self.problems = problems
        self.competition_id = competition_id
        """The `id` the broken file claims, when it could be read."""
        body = "; ".join(problems)
        super().__init__(f"{path}: {body}")


class DataError(MLEDojoError):
    """Preparing a competition's data failed (missing raw files, bad checksum, ...)."""


class KaggleError(DataError):
    """Downloading from Kaggle failed; the message says how to fix it."""


class InvalidSubmissionError(MLEDojoError):
    """A submission cannot be graded; the message names the file, row or column."""


class GradingError(MLEDojoError):
    """Grading failed for a reason that is not the submission's fault."""


class ModelAccessError(MLEDojoError):
    """An agent's model could not be used at all: no or a rejected key, an unknown model, a
    missing SDK or price, an unreachable endpoint, or a provider outage that outlived the
    retries (the model layer raises its subclasses).

    That is the operator's configuration or the provider's infrastructure, never the agent's
    result: the episode ends `model_error`, not as a clean zero, and the bench's
    `--retry model` plays it again.
    """


class DockerUnavailableError(MLEDojoError):
    """No Docker engine answers."""

    def __init__(self, detail: str = "") -> None:
        extra = f" ({detail})" if detail else ""
        super().__init__(
            "Docker is not available"
            + extra
            + ". Start it with `sudo bash scripts/ensure_docker.sh` (installs Debian's docker.io"
            " and starts dockerd), or, as root, use `sandbox='local'` for the weaker subprocess"
            " sandbox."
        )


class SandboxError(MLEDojoError):
    """The sandbox itself failed (not the agent's code): an infrastructure failure."""


class SandboxFileError(MLEDojoError):
    """A file the host asked the sandbox for was refused (the agent's fault, not the host's).

    The message is safe to show the agent: it names the path it gave, never a host path.
    """


class ImageBuildError(SandboxError):
    """Building the runtime image failed; the message names the log file."""


class AgentNotFoundError(MLEDojoError, KeyError):
    """An agent name is not registered."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        known = sorted(set(known))
        _, hint = did_you_mean(name, known)
        super().__init__(f"No agent `{name}`.{hint} Known agents: {', '.join(known) or 'none'}.")

    def __str__(self) -> str:
        return str(self.args[0])


class ResetNeededError(MLEDojoError):
    """`step` was called before `reset` or after the episode ended."""


class DependencyNotInstalledError(MLEDojoError, ImportError):
    """An optional dependency is missing; the message gives the pip extra to install."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"`{package}` is not installed. Install it with `pip install 'mledojo[{extra}]'`."
        )
