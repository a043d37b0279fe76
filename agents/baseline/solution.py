# Baseline solution cell. `TASK` (JSON text) is prepended by the agent. Runs in the sandbox.
import json
import os
import warnings

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

task = json.loads(TASK)  # noqa: F821 - defined by the agent
DATA = os.environ.get("MLEDOJO_DATA", "/data")
OUT = os.environ.get("MLEDOJO_WORKSPACE", "/workspace")
idc, targets, kind = task["id_column"], task["targets"], task["prediction_kind"]
metric, seed = task["metric"], int(task.get("seed") or 0)

train = pd.read_csv(f"{DATA}/train.csv")
test = pd.read_csv(f"{DATA}/test.csv")
features = [c for c in test.columns if c != idc and c in train.columns and c not in targets]
# Prediction cases: `history.csv` holds, per test id, the rows up to the case's own row (its
# last). Features are then computed within each case's history, never across cases.
history = None
if os.path.exists(f"{DATA}/history.csv") and not task["simple"]:
    history = pd.read_csv(f"{DATA}/history.csv")
    if idc not in history.columns or not set(history[idc]) <= set(test[idc]):
        history = None


def parse_dates(col):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pd.to_datetime(col, errors="coerce")


def find_date_columns(df):
    """The text columns that hold dates (95 % parse), the ones named like a time first."""
    found = []
    for c in df.columns:
        if pd.api.types.is_numeric_dtype(df[c]) or df[c].isna().all():
            continue
        sample = df[c].dropna().astype(str).head(200)
        if sample.str.contains(r"\d").mean() < 0.95 or parse_dates(sample).notna().mean() < 0.95:
            continue
        if parse_dates(df[c]).notna().mean() > 0.95:
            found.append(c)
    return sorted(found, key=lambda c: not any(k in c.lower() for k in ("time", "date")))


def find_group_column(df, time_col):
    """The entity column of a panel: one row per (entity, time), e.g. a sensor or store id."""
    best = None
    for c in df.columns:
        if c in (time_col, idc) or pd.api.types.is_numeric_dtype(df[c]):
            continue
        n = df[c].nunique()
        if not (2 <= n <= 500 and len(df) / n >= 50):
            continue
        if df.duplicated([c, time_col]).any():
            continue  # several rows per time: not the entity
        best = c if best is None or n < df[best].nunique() else best
    return best


def window_stats(x, pos, w, min_periods):
    """Mean and std over the last `w` rows of each group (rows sorted by group, then time).

    `pos` is each row's position in its group. Cumulative sums make it one vectorised pass
    for any number of groups (pandas' groupby-rolling is slow with thousands of them).
    """
    ok = ~np.isnan(x)
    v = np.where(ok, x, 0.0)
    sums = [np.concatenate([[0.0], np.cumsum(a)]) for a in (v, v * v, ok.astype(float))]
    i = np.arange(len(x))
    lo = i - np.minimum(pos, w - 1)
    s, s2, n = (c[i + 1] - c[lo] for c in sums)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n >= min_periods, s / n, np.nan)
        var = np.where(n >= max(2, min_periods), (s2 - s * s / n) / (n - 1), np.nan)
    return mean, np.sqrt(np.clip(var, 0.0, None))


def shift_in_group(x, pos, k):
    """The value `k` rows earlier in the same group (NaN for the group's first `k` rows)."""
    out = np.full(len(x), np.nan)
    out[k:] = x[:-k]
    out[pos < k] = np.nan
    return out


probe = train if history is not None else pd.concat([train, test], ignore_index=True)
date_cols = [] if task["simple"] else find_date_columns(probe[[idc, *features]])
time_col = date_cols[0] if date_cols else None
group_col = find_group_column(probe[[idc, *features]], time_col) if time_col else None
if history is not None and group_col:
    # train rows are grouped by entity, case rows by case; test rows are the cases' last rows
    both = pd.concat(
        [train.assign(_test=0, _key=train[group_col].astype(str)), history.assign(_test=1)],
        ignore_index=True,
    )
    both.loc[both["_test"] == 1, "_key"] = "case:" + both.loc[both["_test"] == 1, idc].astype(str)
    long_w = min(336, int(history.groupby(idc).size().min()))  # what every case can fill
else:
    history = None
    both = pd.concat([train.assign(_test=0), test.assign(_test=1)], ignore_index=True)
    if group_col:
        both["_key"] = both[group_col]
    long_w = 336
if time_col:
    # calendar features of every date column; `_days` (days since 1970) lets a tree carry
    # the latest level forward past the end of training. Targets are never features.
    for c in date_cols:
        when = parse_dates(both[c])
        for part in ("year", "month", "day", "day_of_week", "day_of_year", "hour"):
            values = getattr(when.dt, part)
            if values.nunique() > 1:
                both[f"{c}_{part}"] = values
        both[f"{c}_days"] = (when - pd.Timestamp(0)).dt.total_seconds() / 86400.0
    both["_t"] = parse_dates(both[time_col])
    both = both.sort_values(["_key", "_t"] if group_col else ["_t"], kind="stable")
    numeric = [c for c in features if pd.api.types.is_numeric_dtype(both[c])]
    keep = np.ones(len(both), dtype=bool)
    if history is not None:  # keep each case's own row only (its last history row)
        last = both.groupby("_key", sort=False)["_t"].transform("max") == both["_t"]
        keep = ((both["_test"] == 0) | last).to_numpy()
    if group_col:
        # rows are sorted by key then time; windows never cross into another key's rows.
        # Windows read every row, but only kept rows' values are stored: the history of the
        # cases is most of the rows, and storing all of it ran out of memory in 2 GB.
        pos = both.groupby("_key", sort=False).cumcount().to_numpy()
        new = {}
        for c in numeric:
            filled = both.groupby("_key", sort=False)[c].ffill().to_numpy(dtype=float)
            new[f"{c}_lag1"] = shift_in_group(filled, pos, 1)[keep]
            for w in (6, 24, 72):
                mean, _ = window_stats(filled, pos, w, 1)
                new[f"{c}_mean{w}"] = mean[keep]
                new[f"{c}_dev{w}"] = (filled - mean)[keep]
            long, _ = window_stats(filled, pos, long_w, 24)
            new[f"{c}_rel{long_w}"] = (filled - long)[keep]
            new[f"{c}_std24"] = window_stats(filled, pos, 24, 2)[1][keep]
            new[f"{c}_slope24"] = (filled - shift_in_group(filled, pos, 24))[keep]
        both = both[keep]
        both = pd.concat([both, pd.DataFrame(new, index=both.index)], axis=1)
    else:
        both = both[keep]
    both = both.sort_index()
    added = [c for c in both.columns if c not in train.columns and c not in ("_test", "_t", "_key")]
    features = [c for c in features if c not in date_cols] + added


def as_number(col):
    """A text column with too many levels for a categorical split: a date as seconds, or its
    codes in sorted order (gradient boosting takes at most 255 categories)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(col, errors="coerce")
    if parsed.notna().mean() > 0.95:
        return (parsed - pd.Timestamp(0)).dt.total_seconds()
    return col.astype(str).astype("category").cat.codes.astype(float)


for c in list(features):
    if not pd.api.types.is_numeric_dtype(both[c]) or pd.api.types.is_bool_dtype(both[c]):
        n = both[c].nunique()
        if n > 200 and n > 0.5 * len(both):
            features.remove(c)  # an identifier-like text column
        elif n > 250:
            both[c] = as_number(both[c])
        else:
            both[c] = both[c].astype(str).astype("category")
X = both.loc[both["_test"] == 0, features]
X_test = both.loc[both["_test"] == 1, features]
train_rows = both.loc[both["_test"] == 0]
order = np.argsort(train_rows["_t"].to_numpy()) if time_col else np.arange(len(X))
cut = int(len(order) * 0.8)
fit_idx, val_idx = order[:cut], order[cut:]
if not time_col:
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(X))
    fit_idx, val_idx = perm[:cut], perm[cut:]
params = dict(
    max_iter=300, learning_rate=0.06, categorical_features="from_dtype", random_state=seed
)
# The loss follows the metric's name: absolute errors for MAE and median absolute error, and
# absolute errors of log1p(y) for SMAPE (a relative error) when the target is never negative.
absolute = metric in ("mae", "median_absolute_error", "smape")
log_fit = task["log_target"] or metric == "smape"
# balanced log loss weighs both classes equally: so do the classifier's sample weights
class_weight = "balanced" if metric.startswith("balanced") else None
submission = pd.DataFrame({idc: both.loc[both["_test"] == 1, idc].to_numpy()})

for target in targets:
    y_all = train_rows[target].to_numpy()
    if kind == "value":
        y_all = y_all.astype(float)
        use_log = log_fit and np.nanmin(y_all) >= 0
        y_fit = np.log1p(y_all) if use_log else y_all
        loss = "absolute_error" if absolute else "squared_error"
        model = HistGradientBoostingRegressor(loss=loss, **params)
        model.fit(X.iloc[fit_idx], y_fit[fit_idx])
        pred = model.predict(X.iloc[val_idx])
        pred = np.clip(np.expm1(pred), 0, None) if use_log else pred
        err = np.abs(y_all[val_idx] - pred)
        print(f"holdout on {target}: RMSE {np.sqrt(np.mean(err**2)):.5f}, MAE {err.mean():.5f}")
        model.fit(X, y_fit)
        out = model.predict(X_test)
        submission[target] = np.clip(np.expm1(out), 0, None) if use_log else out
        continue
    labels = pd.Series(y_all).astype(str).to_numpy()
    model = HistGradientBoostingClassifier(class_weight=class_weight, **params)
    if len(set(labels)) > 20:  # one tree per class per round is too slow: a linear model
        X = X.apply(lambda s: s.cat.codes if s.dtype == "category" else s)
        X_test = X_test.apply(lambda s: s.cat.codes if s.dtype == "category" else s)
        model = make_pipeline(
            SimpleImputer(),
            StandardScaler(),
            LogisticRegression(max_iter=2000, class_weight=class_weight),
        )
    model.fit(X.iloc[fit_idx], labels[fit_idx])
    col = 1
    if kind == "probability" and len(model.classes_) == 2:
        pos = task.get("positive_label") or model.classes_[1]
        col = list(model.classes_).index(str(pos)) if str(pos) in model.classes_ else 1
        proba_val = model.predict_proba(X.iloc[val_idx])[:, col]
        auc = roc_auc_score(labels[val_idx] == model.classes_[col], proba_val)
        print(f"holdout ROC AUC on {target}: {auc:.5f}")
    elif kind == "ranked_labels":
        proba_val = model.predict_proba(X.iloc[val_idx])
        top = np.asarray(model.classes_)[np.argsort(-proba_val, axis=1)[:, :3]]
        hits = top == labels[val_idx][:, None]
        print(f"holdout MAP@3: {(hits / np.arange(1, 4)).sum(axis=1).mean():.5f}")
    else:
        print(f"holdout accuracy: {(model.predict(X.iloc[val_idx]) == labels[val_idx]).mean():.5f}")
    model.fit(X, labels)
    if kind == "class_probabilities":
        proba = model.predict_proba(X_test)
        for c in task["classes"]:
            idx = list(model.classes_).index(str(c)) if str(c) in model.classes_ else None
            submission[c] = proba[:, idx] if idx is not None else 0.0
    elif kind == "probability":
        submission[target] = model.predict_proba(X_test)[:, col]
    elif kind == "ranked_labels":  # the three most probable classes, best first
        order = np.argsort(-model.predict_proba(X_test), axis=1, kind="stable")[:, :3]
        submission[target] = [" ".join(r) for r in np.asarray(model.classes_)[order]]
    else:
        pred = model.predict(X_test)
        original = pd.Series(y_all)
        mapping = {str(v): v for v in original.unique()}
        submission[target] = [mapping.get(p, p) for p in pred]

submission.to_csv(f"{OUT}/submission.csv", index=False)
print(f"wrote {OUT}/submission.csv with {len(submission)} rows")
