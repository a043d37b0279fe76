"""Tables between tools: read a CSV/parquet input, write a parquet handle with its metadata.

Each handle `<workspace>/tools/<name>.parquet` has a sidecar `<name>.meta.json` that says
which split it is (`role`) and which columns are the target, id, time and group. Tools
read the role to enforce their rules (resampling only a training split, fitting only on
one). A file not written by a tool has no sidecar: it is `raw`, or `test` when it is the
competition's test file (`/data/test*`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError

from ._base import ToolArgumentError, ToolError
from ._ledger import read_vouched, sha256, verify
from ._paths import data_root, handle_path, resolve_input, sandbox_path, write_atomic

Role = Literal["raw", "train", "valid", "test"]
MAX_ROWS = 5_000_000
MAX_COLUMNS = 5_000
META_SUFFIX = ".meta.json"
TABLE_SUFFIX = ".parquet"


class TableMeta(BaseModel):
    """What a tool knows about a table besides its columns."""

    model_config = ConfigDict(extra="forbid")

    role: Role = "raw"
    target: str | None = None
    id_column: str | None = None
    time_column: str | None = None
    group_column: str | None = None
    created_by: str = ""
    # sha256 of the file a split or feature table descends from: "trained on X" is checkable.
    lineage: str = ""
    # which split part the rows are (source, split recipe, role); kept by derived tables, so
    # a model trained on any table of a part is known to have seen that part's rows.
    part: str = ""


class Table(BaseModel):
    """A loaded table with its metadata and where it came from."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    frame: pd.DataFrame
    meta: TableMeta
    path: str  # sandbox path
    fingerprint: str  # sha256 of the file's bytes


def read_table(path: str, *, argument: str, max_rows: int | None = None) -> Table:
    """Load a CSV or parquet table given by the agent; bounded in rows and columns."""
    real = resolve_input(path, argument=argument)
    suffix = real.suffix.lower()
    limit = min(max_rows or MAX_ROWS, MAX_ROWS)
    try:
        if suffix == ".parquet":
            frame = pd.read_parquet(real)
        elif suffix in (".csv", ".gz", ".zip"):
            frame = pd.read_csv(real, nrows=limit + 1, low_memory=False)
        else:
            raise ToolArgumentError(f"argument `{argument}`: {path!r} is neither .csv nor .parquet")
    except ToolError:
        raise
    except Exception as exc:  # noqa: BLE001 - the parser's message may quote data
        raise ToolArgumentError(
            f"argument `{argument}`: {path!r} could not be read as a table "
            f"({type(exc).__name__}); check it is a well-formed CSV or parquet file"
        ) from None
    if len(frame) > limit:
        if max_rows is None:
            raise ToolArgumentError(
                f"argument `{argument}`: {path!r} has more than {MAX_ROWS:,} rows; the limit"
            )
        frame = frame.iloc[:limit]
    if frame.shape[1] > MAX_COLUMNS:
        raise ToolArgumentError(f"argument `{argument}`: more than {MAX_COLUMNS} columns")
    frame.columns = [str(c) for c in frame.columns]
    fingerprint = sha256(real)
    return Table(
        frame=frame,
        meta=_read_meta(real, fingerprint),
        path=sandbox_path(real),
        fingerprint=fingerprint,
    )


def write_table(frame: pd.DataFrame, handle: str, meta: TableMeta) -> dict[str, Any]:
    """Write `frame` as the handle `handle` (parquet + sidecar); return its description."""
    target = handle_path(handle, TABLE_SUFFIX)
    write_atomic(target, lambda tmp: frame.to_parquet(tmp, index=False))
    write_json(handle_path(handle, META_SUFFIX), meta.model_dump())
    return {
        "handle": handle,
        "path": sandbox_path(target),
        "role": meta.role,
        "rows": int(len(frame)),
        "columns": int(frame.shape[1]),
    }


def write_json(target: Path, obj: Any) -> None:
    """Write a JSON document atomically."""

    def dump(tmp: Path) -> None:
        tmp.write_text(json.dumps(obj, indent=1, sort_keys=True, default=str))

    write_atomic(target, dump)


def read_json(path: Path, *, what: str) -> Any:
    """A JSON document a tool wrote (and the ledger vouches for), or a clear error."""
    try:
        return json.loads(read_vouched(sandbox_path(path), path))
    except (OSError, ValueError):
        raise ToolError(f"{what} {path.name} is missing or damaged; recreate it") from None


def require_column(table: Table, column: str | None, *, argument: str) -> str:
    """`column` if the table has it, else an error listing a few columns that exist."""
    if not column:
        raise ToolArgumentError(f"argument `{argument}` is required for {table.path}")
    if column not in table.frame.columns:
        shown = ", ".join(list(table.frame.columns)[:30])
        raise ToolArgumentError(
            f"argument `{argument}`: no column {column[:80]!r} in {table.path}; columns: {shown}"
        )
    return column


def _read_meta(real: Path, fingerprint: str) -> TableMeta:
    """The sidecar of a tool-written table, else the role implied by the file's place.

    With a ledger, the sidecar and the table must both be a tool's unchanged bytes.
    """
    sidecar = real.with_name(real.name[: -len(real.suffix)] + META_SUFFIX)
    if real.suffix == TABLE_SUFFIX and sidecar.is_file():
        try:
            text = read_vouched(sandbox_path(sidecar), sidecar)
            verify(sandbox_path(real), real, fingerprint)
            return TableMeta.model_validate_json(text)
        except (OSError, ValidationError):
            raise ToolError(f"the metadata {sidecar.name} is damaged; recreate the table") from None
    try:
        in_data = real.is_relative_to(data_root().resolve())
    except OSError:
        in_data = False
    role: Role = "test" if in_data and real.name.lower().startswith("test") else "raw"
    return TableMeta(role=role)
