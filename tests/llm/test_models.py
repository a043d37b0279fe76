"""Model names, the dated price table and the usage meter."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from mledojo.errors import MLEDojoError
from mledojo.llm import (
    CallUsage,
    LLMBudgetExceeded,
    ModelNameError,
    ModelRef,
    PriceTable,
    PriceTableError,
    UsageMeter,
    parse_model,
)
from mledojo.llm.prices import SHIPPED_TABLE


@pytest.mark.parametrize(
    ("text", "provider", "name", "api"),
    [
        ("openai/gpt-5-mini", "openai", "gpt-5-mini", "openai-responses"),
        ("anthropic/claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5", "anthropic-messages"),
        ("openai-compatible/qwen3", "openai-compatible", "qwen3", "openai-chat"),
        ("openai-compatible/Qwen/Qwen3-8B", "openai-compatible", "Qwen/Qwen3-8B", "openai-chat"),
    ],
)
def test_parse_model(text: str, provider: str, name: str, api: str) -> None:
    ref = parse_model(text)
    assert ref == ModelRef(provider=provider, name=name)  # type: ignore[arg-type]
    assert ref.api == api and str(ref) == text


def test_unknown_provider_suggests_the_closest() -> None:
    with pytest.raises(ModelNameError, match="Unknown model provider `antropic`.*`anthropic`"):
        parse_model("antropic/claude-sonnet-4-5")
    with pytest.raises(ModelNameError, match="`openai-compatible`"):
        parse_model("openai-compat/qwen3")


@pytest.mark.parametrize("text", ["gpt-5-mini", "openai/", "/gpt-5", ""])
def test_a_name_without_provider_is_refused(text: str) -> None:
    with pytest.raises(ModelNameError, match="is not `provider/name`") as info:
        parse_model(text)
    assert isinstance(info.value, MLEDojoError)


def test_shipped_price_table_is_dated_and_covers_the_documented_models() -> None:
    table = PriceTable.default()
    assert table.as_of in SHIPPED_TABLE.name
    for model in ("openai/gpt-5-mini", "anthropic/claude-sonnet-4-5"):
        assert table.price_of(parse_model(model)) is not None
    dated = table.price_of(parse_model("anthropic/claude-sonnet-4-5-20250929"))
    assert dated == table.price_of(parse_model("anthropic/claude-sonnet-4-5"))
    assert table.price_of(parse_model("openai/gpt-99")) is None
    free = table.price_of(parse_model("openai-compatible/qwen3"))
    assert free is not None and free.input == free.output == 0


def test_price_override_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mine = tmp_path / "prices.yaml"
    mine.write_text(
        'as_of: "2026-12-01"\nmodels:\n  openai/gpt-5-mini: {input: 1, output: 4}\n'
        "  openai-compatible/qwen3: {input: 0.5, output: 0.5}\n"
    )
    monkeypatch.setenv("MLEDOJO_LLM_PRICES", str(mine))
    table = PriceTable.default()
    assert table.as_of == "2026-12-01"
    usage = table.usage(
        parse_model("openai/gpt-5-mini"), input_tokens=1000, output_tokens=500, cached_tokens=400
    )
    assert usage.usd == pytest.approx((1000 * 1 + 500 * 4) / 1e6)  # no cached price: input's
    assert table.price_of(parse_model("anthropic/claude-sonnet-4-5")) is not None  # kept


def test_a_broken_price_file_names_itself(tmp_path: Path) -> None:
    bad = tmp_path / "prices.yaml"
    bad.write_text("as_of: x\nmodels:\n  openai/gpt-5: {input: -1, output: 2}\n")
    with pytest.raises(PriceTableError, match=r"prices.yaml is unreadable.*MLEDOJO_LLM_PRICES"):
        PriceTable.default(bad)


def test_meter_totals_and_budgets() -> None:
    meter = UsageMeter(max_tokens=100, max_usd=1.0)
    meter.check()
    meter.charge(
        CallUsage(input_tokens=40, output_tokens=20, cached_tokens=10, reasoning_tokens=5, usd=0.25)
    )
    meter.charge(CallUsage(input_tokens=10, output_tokens=10, usd=None))
    t = meter.totals
    assert (t.input_tokens, t.output_tokens, t.cached_tokens, t.reasoning_tokens) == (50, 30, 10, 5)
    assert (t.calls, t.unpriced_calls, t.usd) == (2, 1, 0.25)
    assert meter.exhausted() is None
    meter.charge(CallUsage(input_tokens=20, output_tokens=0, usd=0.0))
    assert meter.exhausted() == "tokens"
    with pytest.raises(LLMBudgetExceeded, match="100 of 100 tokens after 3 calls"):
        meter.check()
    dollars = UsageMeter(max_usd=0.5)
    dollars.charge(CallUsage(usd=0.5))
    with pytest.raises(LLMBudgetExceeded, match=r"\$0.5000 of \$0.5000"):
        dollars.check()
    UsageMeter().check()  # no budget, never exhausted
    with pytest.raises(ValueError, match="max_tokens"):
        UsageMeter(max_tokens=-1)


def test_meter_is_thread_safe() -> None:
    meter = UsageMeter()

    def charge() -> None:
        for _ in range(2000):
            meter.charge(CallUsage(input_tokens=1, output_tokens=1, usd=0.001))

    threads = [threading.Thread(target=charge) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert meter.totals.calls == 8000 and meter.totals.total_tokens == 16000


def test_call_usage_adds() -> None:
    total = CallUsage(input_tokens=1, usd=0.1) + CallUsage(output_tokens=2, usd=0.2)
    assert (total.input_tokens, total.output_tokens, total.calls) == (1, 2, 2)
    assert total.usd == pytest.approx(0.3)
    assert (CallUsage(usd=None) + CallUsage(usd=1.0)).usd is None


def test_importing_the_layer_loads_no_sdk() -> None:
    import subprocess
    import sys

    code = (
        "import sys, mledojo.llm, mledojo.testing; "
        "print(sorted(m for m in ('openai', 'anthropic', 'httpx2') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[]"
