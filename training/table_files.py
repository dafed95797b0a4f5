"""Table files as Arrow: one file, or a folder of Parquet parts, read whole or streamed in
record batches, text formats typed as strings (training.tables normalises what this reads).

Formats: `recbole` (RecBole atomic files: tab-separated, a `name:type` header, no quoting, since
titles hold bare quotes), `tsv`, `csv`, `parquet`; `auto` picks one by the file's suffix.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from training.schema import TableFormat

# A RecBole header field: `name:type` with one of RecBole's four field types.
_RECBOLE_FIELD = re.compile(r"[^:]+:(token|token_seq|float|float_seq)")
_SUFFIX_FORMATS: dict[str, TableFormat] = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}
_TAB_SUFFIXES = {".tsv", ".inter", ".item", ".user"}


class DataError(ValueError):
    """A data file is missing, unreadable, or does not match its schema."""


def read_columns(path: Path, fmt: TableFormat, columns: Sequence[str]) -> pa.Table:
    """The named columns of one table file (or folder of Parquet parts); text formats yield
    strings only."""
    batches = list(iter_batches(path, fmt, columns))
    if not batches:  # a header and no rows
        return pa.table({c: pa.array([], pa.string()) for c in dict.fromkeys(columns)})
    return pa.Table.from_batches(batches)


def iter_batches(path: Path, fmt: TableFormat, columns: Sequence[str],
                 batch_rows: int | None = None) -> Iterator[pa.RecordBatch]:
    """The named columns of a table file (or folder of Parquet parts) as record batches, read
    as they are consumed: a table larger than memory streams. Text formats yield strings only."""
    columns = list(dict.fromkeys(columns))
    if path.is_dir():
        yield from _parquet_parts(path, fmt, columns, batch_rows)
        return
    if not path.is_file():
        raise DataError(f"file not found: {path}")
    fmt = _resolve_format(path, fmt)
    try:
        if fmt == "parquet":
            _require(columns, pq.read_schema(path).names, path)
            yield from pq.ParquetFile(path).iter_batches(batch_rows or 1 << 20, columns=columns)
            return
        names = _header(path, fmt)
        _require(columns, names, path)
        reader = pcsv.open_csv(
            path,
            # The header is parsed above, so pyarrow gets final names and every type up front.
            read_options=pcsv.ReadOptions(skip_rows=1, column_names=names),
            parse_options=pcsv.ParseOptions(
                delimiter="," if fmt == "csv" else "\t",
                quote_char=False if fmt == "recbole" else '"',
                newlines_in_values=fmt != "recbole",
            ),
            convert_options=pcsv.ConvertOptions(
                include_columns=columns,
                column_types=dict.fromkeys(columns, pa.string()),
                strings_can_be_null=False,
            ),
        )
        yield from reader
    except pa.ArrowException as exc:
        raise DataError(f"cannot read {path} as {fmt}: {exc}") from exc


def _parquet_parts(folder: Path, fmt: TableFormat, columns: list[str],
                   batch_rows: int | None) -> Iterator[pa.RecordBatch]:
    """A table written as a folder of `*.parquet` parts (other files in it are ignored)."""
    if fmt not in ("auto", "parquet"):
        raise DataError(f"{folder} is a folder: only Parquet parts can be read from one, "
                        f"not {fmt}")
    parts = sorted(folder.glob("*.parquet"))
    if not parts:
        raise DataError(f"no *.parquet parts in the folder {folder}")
    try:
        dataset = ds.dataset(parts, format="parquet")
        _require(columns, dataset.schema.names, folder)
        yield from dataset.to_batches(columns=columns, batch_size=batch_rows or 1 << 20)
    except pa.ArrowException as exc:
        raise DataError(f"cannot read the Parquet parts in {folder}: {exc}") from exc


def _resolve_format(path: Path, fmt: TableFormat) -> TableFormat:
    if fmt != "auto":
        return fmt
    suffix = path.suffix.lower()
    if suffix in _SUFFIX_FORMATS:
        return _SUFFIX_FORMATS[suffix]
    if suffix in _TAB_SUFFIXES:
        fields = _first_line(path).split("\t")
        return "recbole" if all(_RECBOLE_FIELD.fullmatch(f) for f in fields) else "tsv"
    raise DataError(f"cannot tell the format of {path} from its suffix; set `format` in the schema")


def _header(path: Path, fmt: TableFormat) -> list[str]:
    first = _first_line(path)
    if fmt == "recbole":
        # `user_id:token` -> `user_id`
        header = [field.rsplit(":", 1)[0] for field in first.split("\t")]
    else:
        header = next(csv.reader([first], delimiter="," if fmt == "csv" else "\t"), [])
    if not any(header):
        raise DataError(f"{path} is empty; expected a header row")
    return header


def _first_line(path: Path) -> str:
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            return fh.readline().rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text: {exc}") from exc


def _require(columns: Sequence[str], existing: Sequence[str], path: Path) -> None:
    missing = [c for c in columns if c not in existing]
    if missing:
        raise DataError(
            f"column {missing[0]!r} not found in {path}; its columns are: {', '.join(existing)}"
        )
