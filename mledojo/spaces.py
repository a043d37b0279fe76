"""Gymnasium spaces for mledojo's text-and-number observations and actions."""

from __future__ import annotations

import json
import string
from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

_SAMPLE_CHARSET = string.ascii_letters + string.digits + " _.\n"


class AnyText(spaces.Text):
    """Any Python string of at most `max_length` characters (unicode included).

    `spaces.Text` only admits a fixed charset; program output can hold any character.
    """

    def __init__(self, max_length: int, *, seed: int | np.random.Generator | None = None) -> None:
        super().__init__(max_length, min_length=0, charset=_SAMPLE_CHARSET, seed=seed)

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and len(x) <= self.max_length

    def __repr__(self) -> str:
        return f"AnyText(max_length={self.max_length})"


class Choice(spaces.Text):
    """One string out of a fixed set (readable in observations, unlike an index)."""

    def __init__(
        self, options: Sequence[str], *, seed: int | np.random.Generator | None = None
    ) -> None:
        self.options = tuple(options)
        super().__init__(
            max(len(o) for o in self.options), min_length=0, charset=_SAMPLE_CHARSET, seed=seed
        )

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and x in self.options

    def sample(self, mask: Any = None, probability: Any = None) -> str:
        return self.options[int(self.np_random.integers(len(self.options)))]

    def __repr__(self) -> str:
        return f"Choice({list(self.options)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Choice) and other.options == self.options


class OptionalFloat(spaces.Space[float | None]):
    """A finite float, or None when there is no value yet (e.g. no score)."""

    def __init__(self, seed: int | np.random.Generator | None = None) -> None:
        super().__init__(shape=None, dtype=None, seed=seed)

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def sample(self, mask: Any = None, probability: Any = None) -> float | None:
        return None if self.np_random.random() < 0.5 else float(self.np_random.random())

    def contains(self, x: Any) -> bool:
        return x is None or (isinstance(x, float | int) and bool(np.isfinite(x)))

    def __repr__(self) -> str:
        return "OptionalFloat()"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OptionalFloat)


class BoundedFloat(spaces.Space[float]):
    """A plain Python float in [low, high] (a `Box` would want numpy scalars)."""

    def __init__(
        self, low: float, high: float, *, seed: int | np.random.Generator | None = None
    ) -> None:
        super().__init__(shape=None, dtype=None, seed=seed)
        self.low, self.high = float(low), float(high)

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def sample(self, mask: Any = None, probability: Any = None) -> float:
        return float(self.np_random.uniform(self.low, self.high))

    def contains(self, x: Any) -> bool:
        return isinstance(x, float | int) and self.low <= float(x) <= self.high

    def __repr__(self) -> str:
        return f"BoundedFloat({self.low}, {self.high})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BoundedFloat) and (other.low, other.high) == (self.low, self.high)


class JSONObject(spaces.Space[dict[str, Any]]):
    """A JSON object (a dict with string keys) of at most `max_chars` characters as JSON."""

    def __init__(self, max_chars: int, *, seed: int | np.random.Generator | None = None) -> None:
        super().__init__(shape=None, dtype=None, seed=seed)
        self.max_chars = max_chars

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def sample(self, mask: Any = None, probability: Any = None) -> dict[str, Any]:
        return {}

    def contains(self, x: Any) -> bool:
        if not isinstance(x, dict) or not all(isinstance(k, str) for k in x):
            return False
        try:
            return len(json.dumps(x)) <= self.max_chars
        except (TypeError, ValueError):
            return False

    def __repr__(self) -> str:
        return f"JSONObject(max_chars={self.max_chars})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JSONObject) and other.max_chars == self.max_chars
