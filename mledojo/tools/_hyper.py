"""The algorithms `train_model` offers and the hyperparameters each accepts, with ranges.

A value outside its range, of the wrong type, or a name the algorithm does not take is an
error naming the parameter and what is allowed: an LLM fixes its call from the message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ._base import ToolArgumentError

Algorithm = Literal[
    "xgboost",
    "lightgbm",
    "random_forest",
    "gradient_boosting",
    "logistic_regression",
    "linear_regression",
]
ParamValue = int | float | str | bool | None


@dataclass(frozen=True)
class Param:
    """One hyperparameter: an int or float range, or a set of choices."""

    kind: Literal["int", "float", "choice"]
    default: ParamValue
    low: float | None = None
    high: float | None = None
    choices: tuple[ParamValue, ...] = ()
    nullable: bool = False

    def allowed(self) -> str:
        """The allowed values in words."""
        if self.kind == "choice":
            return "one of " + ", ".join(repr(c) for c in self.choices)
        extra = " or null" if self.nullable else ""
        what = "an integer" if self.kind == "int" else "a number"
        return f"{what} in [{_fmt(self.low)}, {_fmt(self.high)}]{extra}"

    def check(self, algorithm: str, name: str, value: Any) -> ParamValue:
        """`value` if allowed, else a `ToolArgumentError` naming the parameter."""
        where = f"argument `params.{name}` ({algorithm})"
        if value is None and (self.nullable or None in self.choices):
            return None
        if self.kind == "choice":
            if not any(type(value) is type(c) and value == c for c in self.choices):
                raise ToolArgumentError(
                    f"{where}: {_show(value)} is not allowed; use {self.allowed()}"
                )
            return value  # type: ignore[no-any-return]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ToolArgumentError(
                f"{where}: {_show(value)} is not a number; use {self.allowed()}"
            )
        if self.kind == "int" and not (isinstance(value, int) or float(value).is_integer()):
            raise ToolArgumentError(
                f"{where}: {_show(value)} is not an integer; use {self.allowed()}"
            )
        low = self.low if self.low is not None else float("-inf")
        high = self.high if self.high is not None else float("inf")
        if not low <= value <= high:
            raise ToolArgumentError(
                f"{where}: {_show(value)} is outside the allowed range; use {self.allowed()}"
            )
        return int(value) if self.kind == "int" else float(value)


def _fmt(x: float | None) -> str:
    return "-inf" if x is None else (str(int(x)) if float(x).is_integer() else repr(x))


def _show(value: Any) -> str:
    return repr(value)[:40]


def _i(default: int | None, low: float, high: float, nullable: bool = False) -> Param:
    return Param("int", default, low, high, nullable=nullable)


def _f(default: float, low: float, high: float) -> Param:
    return Param("float", default, low, high)


_CLASS_WEIGHT = Param("choice", None, choices=(None, "balanced"))
_LR = _f(0.1, 1e-4, 1.0)

PARAMS: dict[str, dict[str, Param]] = {
    "xgboost": {
        "n_estimators": _i(300, 1, 5000),
        "max_depth": _i(6, 1, 16),
        "learning_rate": _LR,
        "subsample": _f(1.0, 0.1, 1.0),
        "colsample_bytree": _f(1.0, 0.1, 1.0),
        "min_child_weight": _f(1.0, 0.0, 1000.0),
        "reg_lambda": _f(1.0, 0.0, 1000.0),
        "reg_alpha": _f(0.0, 0.0, 1000.0),
        "gamma": _f(0.0, 0.0, 100.0),
        "scale_pos_weight": _f(1.0, 0.01, 1000.0),
    },
    "lightgbm": {
        "n_estimators": _i(300, 1, 5000),
        "num_leaves": _i(31, 2, 4096),
        "max_depth": _i(-1, -1, 64),
        "learning_rate": _LR,
        "subsample": _f(1.0, 0.1, 1.0),
        "subsample_freq": _i(0, 0, 100),
        "colsample_bytree": _f(1.0, 0.1, 1.0),
        "min_child_samples": _i(20, 1, 100000),
        "reg_lambda": _f(0.0, 0.0, 1000.0),
        "reg_alpha": _f(0.0, 0.0, 1000.0),
        "class_weight": _CLASS_WEIGHT,
    },
    "random_forest": {
        "n_estimators": _i(300, 1, 2000),
        "max_depth": _i(None, 1, 100, nullable=True),
        "min_samples_leaf": _i(1, 1, 100000),
        "max_features": Param("choice", "sqrt", choices=("sqrt", "log2", None)),
        "class_weight": Param("choice", None, choices=(None, "balanced", "balanced_subsample")),
    },
    "gradient_boosting": {  # sklearn's histogram gradient boosting (handles missing values)
        "max_iter": _i(200, 1, 5000),
        "learning_rate": _LR,
        "max_depth": _i(None, 1, 64, nullable=True),
        "max_leaf_nodes": _i(31, 2, 4096),
        "min_samples_leaf": _i(20, 1, 100000),
        "l2_regularization": _f(0.0, 0.0, 1000.0),
        "class_weight": _CLASS_WEIGHT,
    },
    "logistic_regression": {
        "C": _f(1.0, 1e-6, 1e6),
        "max_iter": _i(1000, 10, 10000),
        "class_weight": _CLASS_WEIGHT,
    },
    "linear_regression": {"alpha": _f(1.0, 0.0, 1e6)},  # ridge; alpha 0 is ordinary least squares
}
CLASSIFICATION_ONLY = {"logistic_regression"}
REGRESSION_ONLY = {"linear_regression"}


def validate_params(algorithm: str, task: str, given: dict[str, Any]) -> dict[str, ParamValue]:
    """The full parameter set (defaults filled in), or an error naming the bad parameter."""
    if algorithm in CLASSIFICATION_ONLY and task == "regression":
        raise ToolArgumentError(
            "argument `algorithm`: logistic_regression is for classification; use "
            "linear_regression for a regression target"
        )
    if algorithm in REGRESSION_ONLY and task != "regression":
        raise ToolArgumentError(
            f"argument `algorithm`: linear_regression is for regression; use "
            f"logistic_regression for a {task} target"
        )
    table = PARAMS[algorithm]
    for name in given:
        if name not in table:
            raise ToolArgumentError(
                f"argument `params.{str(name)[:60]}`: {algorithm} takes no such parameter; "
                f"allowed: {', '.join(sorted(table))}"
            )
    return {
        name: p.check(algorithm, name, given[name]) if name in given else p.default
        for name, p in table.items()
    }


def describe_params() -> str:
    """A compact listing for the tool description an LLM reads."""
    parts = []
    for algorithm, table in PARAMS.items():
        listed = "; ".join(f"{n}: {p.allowed()} (default {p.default!r})" for n, p in table.items())
        parts.append(f"{algorithm}: {listed}")
    return " | ".join(parts)
