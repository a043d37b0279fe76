"""`LLMClient`: structured and text calls with retries, timeouts, budgets, recording and replay.

Each call runs on its own short-lived event loop with its own SDK client, closed when the call
ends, so a finished, timed-out or cancelled call leaves no connection or thread behind.
`cancel()` (from any thread) aborts the calls in flight and refuses new ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import re
import threading
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from mledojo.llm.adapters import ApiAdapter, adapter_for, import_sdk
from mledojo.llm.errors import (
    LLMAccessError,
    LLMCallError,
    LLMCancelledError,
    LLMError,
    LLMOutputError,
    LLMTimeoutError,
    MissingAPIKeyError,
    ModelNameError,
    PriceTableError,
    is_access_failure,
)
from mledojo.llm.meter import UsageMeter
from mledojo.llm.models import KEY_VARIABLE, CallUsage, Message, ModelRef, parse_model
from mledojo.llm.prices import PriceTable
from mledojo.llm.record import (
    RECORD_FILE,
    Attempt,
    CallRecord,
    LLMRequest,
    RecordedError,
    Recorder,
    Replayer,
    Round,
    StructuredMode,
    WireReply,
)
from mledojo.llm.retry import Failure, RetryPolicy, classify
from mledojo.llm.structured import (
    PROMPT_MODE_INSTRUCTION,
    REPAIR_PROMPT,
    native_structured_ok,
    validate_reply,
)

log = logging.getLogger(__name__)
T = TypeVar("T", bound=BaseModel)
R = TypeVar("R")

DEFAULT_COMPATIBLE_KEY = "EMPTY"  # what vLLM and llama.cpp accept when they run without a key


class LLMClient:
    """Calls one model; every request is checked against the meter, recorded and retried.

    Made by `make_client`. `structured` and `text` are synchronous (safe from many threads at
    once); `astructured` and `atext` are their coroutine forms for async callers.
    """

    def __init__(
        self,
        model: ModelRef,
        *,
        adapter: ApiAdapter | None,
        api_key: str | None,
        base_url: str | None,
        meter: UsageMeter,
        recorder: Recorder | None,
        replayer: Replayer | None,
        timeout_s: float,
        retry: RetryPolicy,
        max_output_tokens: int,
    ) -> None:
        self.model = model
        self.meter = meter
        self.timeout_s = timeout_s
        self.retry = retry
        self.max_output_tokens = max_output_tokens
        self.replaying = replayer is not None
        self._adapter = adapter
        self._api_key = api_key
        self._secrets = [api_key] if api_key else []
        self._base_url = base_url
        self._recorder = recorder
        self._replayer = replayer
        self._lock = threading.Lock()
        # Recording a call and charging it happen together, so `llm-calls.jsonl` lists billed
        # calls in the order the episode counted them (`mledojo export` joins them by it).
        self._ledger_lock = threading.Lock()
        self._calls = 0
        self._cancelled = threading.Event()
        self._inflight: set[tuple[asyncio.AbstractEventLoop, asyncio.Task[Any]]] = set()
        self._rng = random.Random()
        self._native_refused = False

    def __repr__(self) -> str:  # never shows the key
        mode = "replay" if self.replaying else "live"
        return f"LLMClient({self.model}, {mode})"

    # public API ------------------------------------------------------------------------
    def structured(
        self, messages: Sequence[Message], schema: type[T], *, purpose: str
    ) -> tuple[T, CallUsage]:
        """The model's answer as a validated `schema` instance, and the usage it cost."""
        return self._run(lambda: self.astructured(messages, schema, purpose=purpose))

    def text(self, messages: Sequence[Message], *, purpose: str) -> tuple[str, CallUsage]:
        """The model's plain-text answer, and the usage it cost."""
        return self._run(lambda: self.atext(messages, purpose=purpose))

    async def astructured(
        self, messages: Sequence[Message], schema: type[T], *, purpose: str
    ) -> tuple[T, CallUsage]:
        return await self._tracked(self._structured(list(messages), schema, purpose))

    async def atext(self, messages: Sequence[Message], *, purpose: str) -> tuple[str, CallUsage]:
        return await self._tracked(self._text(list(messages), purpose))

    def cancel(self) -> None:
        """Abort every call in flight (their connections close) and refuse further calls."""
        self._cancelled.set()
        with self._lock:
            inflight = list(self._inflight)
        for loop, task in inflight:
            with contextlib.suppress(RuntimeError):  # that loop closed meanwhile: call ended
                loop.call_soon_threadsafe(task.cancel)

    # flow ----------------------------------------------------------------------------
    def _output_cap(self) -> int:
        """Output tokens allowed for the next request: the configured cap, or less when a
        token budget has less room left (so the budget is overshot by one prompt at most)."""
        cap = self.max_output_tokens
        if self.meter.max_tokens is not None:
            room = self.meter.max_tokens - self.meter.totals.total_tokens
            cap = max(1, min(cap, room))
        return cap

    async def _text(self, messages: list[Message], purpose: str) -> tuple[str, CallUsage]:
        request = LLMRequest(
            api=self.model.api,
            model=self.model.name,
            messages=messages,
            max_output_tokens=self._output_cap(),
        )
        reply = await self._request(request, None, purpose, "first")
        if reply.refusal:
            raise LLMOutputError(f"The model refused ({purpose}): {reply.refusal[:300]}")
        return reply.text, reply.usage

    def _structured_request(
        self,
        messages: list[Message],
        name: str,
        json_schema: dict[str, Any],
        mode: StructuredMode,
    ) -> LLMRequest:
        if mode == "prompt":  # the schema goes in the prompt; the reply is validated as JSON
            instruction = PROMPT_MODE_INSTRUCTION.format(
                name=name, schema=json.dumps(json_schema, sort_keys=True)
            )
            # One leading system message only: some chat templates refuse a second one.
            if messages and messages[0].role == "system":
                first = Message(role="system", content=f"{messages[0].content}\n\n{instruction}")
                messages = [first, *messages[1:]]
            else:
                messages = [Message(role="system", content=instruction), *messages]
        return LLMRequest(
            api=self.model.api,
            model=self.model.name,
            messages=messages,
            schema_name=name,
            json_schema=json_schema,
            structured=mode,
            max_output_tokens=self._output_cap(),
        )

    async def _structured(
        self, messages: list[Message], schema: type[T], purpose: str
    ) -> tuple[T, CallUsage]:
        name = re.sub(r"[^A-Za-z0-9_-]", "_", schema.__name__)[:64]
        json_schema = schema.model_json_schema()
        native = native_structured_ok(self.model.api, json_schema) and not self._native_refused
        request = self._structured_request(
            messages, name, json_schema, "native" if native else "prompt"
        )
        try:
            reply = await self._request(request, schema, purpose, "first")
        except LLMCallError as exc:
            if not native or exc.status not in (400, 422):
                raise
            # The server refuses native structured output (an older OpenAI-compatible server):
            # ask for JSON in the prompt instead, for this and every later call of this client.
            self._native_refused = True
            request = self._structured_request(messages, name, json_schema, "prompt")
            reply = await self._request(request, schema, purpose, "fallback")
        usage = reply.usage
        self._check_complete(reply, request, purpose)
        value, errors = validate_reply(schema, reply)
        if value is not None:
            return value, usage
        said = json.dumps(reply.tool_input) if reply.tool_input is not None else reply.text
        repair = request.model_copy(
            update={
                "messages": [
                    *request.messages,
                    Message(role="assistant", content=said),
                    Message(role="user", content=REPAIR_PROMPT.format(name=name, errors=errors)),
                ],
                "max_output_tokens": self._output_cap(),
            }
        )
        second = await self._request(repair, schema, purpose, "repair")
        usage = usage + second.usage
        self._check_complete(second, repair, purpose)
        value, errors = validate_reply(schema, second)
        if value is None:
            raise LLMOutputError(
                f"The model's reply for `{purpose}` does not match `{name}` after one repair "
                f"round:\n{errors}"
            )
        return value, usage

    def _check_complete(self, reply: WireReply, request: LLMRequest, purpose: str) -> None:
        """A refused or cut structured answer cannot be repaired by asking again."""
        if reply.refusal:
            raise LLMOutputError(f"The model refused ({purpose}): {reply.refusal[:300]}")
        if reply.cut_at_limit:
            cap = request.max_output_tokens
            why = (
                " (lowered to the token budget's room left)"
                if cap < self.max_output_tokens
                else "; raise max_output_tokens"
            )
            raise LLMOutputError(
                f"The model's answer for `{purpose}` was cut at the output limit of {cap} "
                f"tokens{why}."
            )

    async def _request(
        self, request: LLMRequest, schema: type[BaseModel] | None, purpose: str, round_: Round
    ) -> WireReply:
        """One request: budget check, then replay or live send with retries; always recorded."""
        if self._cancelled.is_set():
            raise LLMCancelledError("The LLM client was cancelled; no further call is made.")
        self.meter.check()
        with self._lock:
            self._calls += 1
            call = self._calls
        base = CallRecord(call=call, purpose=purpose, round=round_, request=request)
        if self._replayer is not None:
            with self._ledger_lock:
                record = self._replayer.take(call, base, self._recorder)
                self._charge(record)
        else:
            record = await self._send_with_retries(base, schema)
            with self._ledger_lock:
                if self._recorder is not None:
                    self._recorder.append(record)
                self._charge(record)
        if record.reply is not None:
            return record.reply
        error = record.error or RecordedError(kind="call", message="no reply was recorded")
        cls: type[LLMCallError] = LLMCallError
        if error.kind == "timeout":
            cls = LLMTimeoutError
        elif record.error is not None and is_access_failure(error.status):
            cls = LLMAccessError
        raise cls(
            f"{self.model} ({purpose}): {error.message}",
            status=error.status,
            attempts=error.attempts,
        )

    def _charge(self, record: CallRecord) -> None:
        """Charge a call the provider billed (one with a reply, even one that fails the schema)."""
        if record.reply is not None:
            self.meter.charge(record.reply.usage)

    async def _send_with_retries(
        self, base: CallRecord, schema: type[BaseModel] | None
    ) -> CallRecord:
        """Send `base.request` until a reply, a final failure or the retry budget ends."""
        adapter = self._adapter
        if adapter is None or self._api_key is None:
            raise LLMCallError("This client has no live connection (it was made for replay only).")
        sdk_module = import_sdk("anthropic" if self.model.api == "anthropic-messages" else "openai")
        sdk = adapter.open_client(
            api_key=self._api_key, base_url=self._base_url, timeout_s=self.timeout_s
        )
        attempts: list[Attempt] = []
        try:
            while True:
                outcome = await self._attempt(adapter, sdk, sdk_module, base.request, schema)
                if isinstance(outcome, WireReply):
                    return base.model_copy(update={"reply": outcome, "attempts": attempts})
                tries = len(attempts) + 1
                wait = self._wait_after(outcome, tries)
                if wait is None:
                    error = RecordedError(
                        kind="timeout" if outcome.kind == "timeout" else "call",
                        message=self._final_message(outcome, tries),
                        status=outcome.status,
                        attempts=tries,
                    )
                    return base.model_copy(update={"attempts": attempts, "error": error})
                attempts.append(
                    Attempt(error=outcome.message, status=outcome.status, waited_s=round(wait, 3))
                )
                log.warning(
                    "%s (%s, call %d): %s; retry %d of %d in %.1f s",
                    self.model,
                    base.purpose,
                    base.call,
                    outcome.message,
                    tries,
                    self.retry.max_retries,
                    wait,
                )
                await asyncio.sleep(wait)
        finally:
            await sdk.close()

    async def _attempt(
        self,
        adapter: ApiAdapter,
        sdk: Any,
        sdk_module: Any,
        request: LLMRequest,
        schema: type[BaseModel] | None,
    ) -> WireReply | Failure:
        """One attempt under the hard deadline: the reply, or the classified failure."""
        try:
            async with asyncio.timeout(self.timeout_s):
                return await adapter.send(sdk, request, schema, self.timeout_s)
        except Exception as exc:  # noqa: BLE001 - provider failures are classified, others raise
            failure = classify(exc, sdk_module, self._secrets)
            if failure is None:
                raise
            return failure

    def _wait_after(self, failure: Failure, failures: int) -> float | None:
        """Seconds to wait before the next attempt, or None to give up."""
        if not failure.retryable or failures > self.retry.max_retries:
            return None
        if failure.retry_after_s is not None:
            if failure.retry_after_s > self.retry.max_retry_after_s:
                return None
            return failure.retry_after_s
        return self.retry.backoff(failures, self._rng)

    def _final_message(self, failure: Failure, attempts: int) -> str:
        asked = failure.retry_after_s
        if asked is not None and asked > self.retry.max_retry_after_s:
            return (
                f"{failure.message}; the provider asks to wait {asked:.0f} s "
                f"(Retry-After), more than the {self.retry.max_retry_after_s:.0f} s allowed. "
                "Try again later."
            )
        if failure.status == 401:
            return (
                f"{failure.message}; the provider rejected the API key "
                f"({KEY_VARIABLE[self.model.provider]} or the variable you named)."
            )
        if failure.status == 404:
            return (
                f"{failure.message}; check the model name `{self.model.name}` and the base URL "
                "(OpenAI-compatible servers usually serve under `/v1`)."
            )
        if failure.kind == "timeout":
            return (
                f"no complete reply within {self.timeout_s:g} s on {attempts} attempt(s); "
                "raise the timeout or check the server."
            )
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        return f"{failure.message}{tries}."

    # running -------------------------------------------------------------------------
    async def _tracked(self, coro: Coroutine[Any, Any, R]) -> R:
        """Await `coro` as a task that `cancel()` can abort from another thread."""
        if self._cancelled.is_set():
            coro.close()
            raise LLMCancelledError("The LLM client was cancelled; no further call is made.")
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(coro)
        entry = (loop, task)
        with self._lock:
            self._inflight.add(entry)
        try:
            return await task
        except asyncio.CancelledError:
            if self._cancelled.is_set():
                raise LLMCancelledError(
                    "The LLM call was cancelled; its connection was closed."
                ) from None
            raise
        finally:
            with self._lock:
                self._inflight.discard(entry)

    def _run(self, make: Callable[[], Awaitable[R]]) -> R:
        """Run one call on a private event loop in the calling thread."""

        async def main() -> R:
            return await make()

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass  # no loop in this thread: the normal case
        else:
            raise LLMError(
                "LLMClient.structured/text were called inside a running event loop; "
                "await astructured/atext there instead."
            )
        with asyncio.Runner() as runner:
            return runner.run(main())


def _api_key(model: ModelRef, api_key_env: str | None) -> str:
    """The key from the host environment; a missing one fails fast naming the variable."""
    if model.provider == "openai-compatible" and api_key_env is None:
        return os.environ.get(KEY_VARIABLE[model.provider]) or DEFAULT_COMPATIBLE_KEY
    variable = api_key_env or KEY_VARIABLE[model.provider]
    value = os.environ.get(variable, "").strip()
    if not value:
        raise MissingAPIKeyError(variable)
    return value


def make_client(
    model: ModelRef | str,
    *,
    meter: UsageMeter,
    base_url: str | None = None,
    record_dir: Path | None = None,
    replay_dir: Path | None = None,
    timeout_s: float = 180.0,
    max_retries: int = 4,
    api_key_env: str | None = None,
    max_output_tokens: int = 16_000,
    prices: PriceTable | None = None,
    retry: RetryPolicy | None = None,
) -> LLMClient:
    """A client for `model` (`openai/gpt-5-mini`, `anthropic/...`, `openai-compatible/...`).

    `record_dir` receives `llm-calls.jsonl`; `replay_dir` holds the one to replay (no key, no
    SDK and no network are needed then). `api_key_env` names the variable holding the key
    (default `OPENAI_API_KEY` / `ANTHROPIC_API_KEY`; for openai-compatible, optional).
    """
    ref = parse_model(model) if isinstance(model, str) else model
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
    table = prices or PriceTable.default()
    if meter.max_usd is not None and table.price_of(ref) is None:
        raise PriceTableError(
            f"No price for {ref} in the price table (as of {table.as_of}), so a dollar budget "
            "cannot be enforced: add it to a YAML file named by MLEDOJO_LLM_PRICES, or budget "
            "in tokens instead."
        )
    policy = (retry or RetryPolicy()).model_copy(update={"max_retries": max_retries})
    replayer = None
    if replay_dir is not None:
        if record_dir is not None and Path(record_dir).resolve() == Path(replay_dir).resolve():
            raise ValueError("record_dir and replay_dir must differ (replay reads, record appends)")
        replayer = Replayer(Path(replay_dir) / RECORD_FILE)
        adapter, key = None, None
    else:
        if ref.provider == "openai-compatible" and not base_url:
            raise ModelNameError(
                f"{ref} needs a base URL (`--model-base-url`, e.g. http://localhost:8000/v1 for "
                "vLLM or http://localhost:11434/v1 for Ollama)."
            )
        key = _api_key(ref, api_key_env)
        adapter = adapter_for(ref, table)
        import_sdk("anthropic" if ref.api == "anthropic-messages" else "openai")
    recorder = Recorder(Path(record_dir), [key] if key else []) if record_dir else None
    return LLMClient(
        ref,
        adapter=adapter,
        api_key=key,
        base_url=base_url,
        meter=meter,
        recorder=recorder,
        replayer=replayer,
        timeout_s=timeout_s,
        retry=policy,
        max_output_tokens=max_output_tokens,
    )
