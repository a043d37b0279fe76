"""The gateway's record of every exchange (`gateway-exchanges.jsonl`), for replay and audit.

One JSON line per request the gateway answered: the route, the model, the status, the request
body and the reply body as the agent received it (each cut at a bound and marked so), the
tokens and dollars charged, and why the gateway refused, if it did. Headers are never written,
and every secret the gateway holds is replaced by `[redacted]` before a line is written.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from mledojo.llm.gateway.usage import Tokens

EXCHANGES_FILE = "gateway-exchanges.jsonl"
REDACTED = "[redacted]"


class Exchange(BaseModel):
    """One recorded exchange (bodies as text, cut at the record bound)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: int
    route: str | None
    path: str
    model: str | None
    stream: bool
    status: int
    request: str
    request_truncated: bool
    reply: str
    reply_truncated: bool
    tokens: Tokens | None = None
    usd: float | None = None
    refused: str | None = None
    error: str | None = None


def _bounded(data: bytes, limit: int) -> tuple[str, bool]:
    return data[:limit].decode("utf-8", errors="replace"), len(data) > limit


class ExchangeLog:
    """Appends exchanges to a JSONL file, thread-safely, with secrets redacted."""

    def __init__(self, path: Path, *, secrets: list[str], max_body_bytes: int) -> None:
        self.path = path
        self._secrets = [s for s in secrets if s]
        self._max = max_body_bytes
        self._lock = threading.Lock()
        self._seq = 0
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(
        self,
        *,
        route: str | None,
        path: str,
        model: str | None,
        stream: bool,
        status: int,
        request: bytes,
        reply: bytes,
        **extra: Any,
    ) -> Exchange:
        req_text, req_cut = _bounded(request, self._max)
        rep_text, rep_cut = _bounded(reply, self._max)
        with self._lock:
            self._seq += 1
            exchange = Exchange(
                seq=self._seq,
                route=route,
                path=path,
                model=model,
                stream=stream,
                status=status,
                request=req_text,
                request_truncated=req_cut,
                reply=rep_text,
                reply_truncated=rep_cut,
                **extra,
            )
            line = json.dumps(exchange.model_dump(mode="json"), sort_keys=True)
            for secret in self._secrets:
                line = line.replace(secret, REDACTED)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(line + "\n")
        return exchange


def read_exchanges(path: Path) -> list[Exchange]:
    """The exchanges of a record file, in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [Exchange.model_validate_json(line) for line in lines if line.strip()]
