"""The features table: key columns that identify a file, then named feature columns; written as parquet in
row groups of bounded size, read back with each row's train/test set."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ser.files import atomic_path

if TYPE_CHECKING:
    import pandas as pd

    from ser.features.cache import FeatureCache

KEY_COLUMNS = ("file", "path", "speaker", "emotion", "sha256")
BATCH_BYTES = 16 << 20  # at most this much of feature values per parquet row group...
BATCH_ROWS = 2048  # ...and at most this many rows
SET_COLUMN = "set"  # added by read_split_table: train or test


def feature_columns(table: pd.DataFrame) -> list[str]:
    """The feature columns of a features table, in stored order."""
    return [c for c in table.columns if c not in KEY_COLUMNS and c != SET_COLUMN]


def read_split_table(features_path, split_path) -> pd.DataFrame:
    """The features table with each row's ``set`` (train or test) from the split file."""
    import pandas as pd

    features = pd.read_parquet(features_path)
    split = pd.read_csv(split_path, dtype=str, keep_default_na=False)[["file", SET_COLUMN]]
    table = features.merge(split, on="file", how="inner", validate="one_to_one")
    if len(table) != len(features):
        raise ValueError(f"{split_path} does not cover every file of {features_path}; re-run the split stage")
    return table


def read_copies(path, table: pd.DataFrame, columns: list[str]) -> tuple | None:
    """The perturbed copies (the features or windows stage's copies table) of the files of ``table``: ``(features,
    emotions, pseudo-speakers, source rows)``, each copy's source row the position in ``table`` of its file's first
    row; None without copies. Copies of files not in ``table`` (the test set's, for a training table) are left out."""
    import pandas as pd

    copies = pd.read_parquet(path, columns=["file", "speaker", "emotion", *columns])
    positions = pd.Series(np.arange(len(table)), index=table["file"].to_numpy())
    first_row = positions[~positions.index.duplicated()]
    sources = first_row.reindex(copies["file"]).fillna(-1).to_numpy(dtype=int)
    copies = copies[sources >= 0]
    if copies.empty:
        return None
    return copies[columns].to_numpy(), copies["emotion"].to_numpy(), copies["speaker"].to_numpy(), sources[sources >= 0]


def write_feature_table(path: str | Path, catalog_rows: list[dict], names: list[str], cache: FeatureCache) -> None:
    """Write key columns and cached vectors in catalog order, in row groups of bounded size, atomically.

    A row group holds at most :data:`BATCH_BYTES` of feature values or :data:`BATCH_ROWS`
    rows, so the batch in memory does not grow with the corpus; what does is the metadata the
    writer keeps for the footer, about 0.9 kB per column per row group (2 MB at 2280 columns).
    Statistics are written for the key columns only.
    """
    schema = pa.schema([(key, pa.string()) for key in KEY_COLUMNS] + [(name, pa.float64()) for name in names])
    with atomic_path(path) as tmp:
        with pq.ParquetWriter(
            tmp, schema, compression="snappy", use_dictionary=list(KEY_COLUMNS), write_statistics=list(KEY_COLUMNS)
        ) as writer:
            _write_row_groups(writer, catalog_rows, names, cache)


def _write_row_groups(
    writer: pq.ParquetWriter, catalog_rows: list[dict], names: list[str], cache: FeatureCache
) -> None:
    """Fill one batch buffer, reused for every row group and freed before the writer builds its footer."""
    rows_per_group = max(1, min(BATCH_ROWS, BATCH_BYTES // (8 * max(1, len(names)))))
    by_feature = np.empty((len(names), min(rows_per_group, len(catalog_rows))))  # a contiguous run per column
    for batch in _batches(catalog_rows, rows_per_group):
        for column, row in enumerate(batch):
            by_feature[:, column] = cache.load(row["sha256"])
        columns = [_string_column([str(row[key]) for row in batch]) for key in KEY_COLUMNS]
        columns += [_float_column(values[: len(batch)]) for values in by_feature]
        writer.write_table(pa.Table.from_arrays(columns, schema=writer.schema))


def _string_column(values: list[str]) -> pa.Array:
    """An arrow string array made from its buffers (``pa.array`` would import pandas: 0.2 s of start-up)."""
    encoded = [value.encode() for value in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int32)
    np.cumsum([len(item) for item in encoded], out=offsets[1:])
    return pa.Array.from_buffers(
        pa.string(), len(encoded), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))]
    )


def _float_column(values: np.ndarray) -> pa.Array:
    """An arrow float64 array over a contiguous numpy vector, without a copy."""
    values = np.ascontiguousarray(values, dtype="<f8")
    return pa.Array.from_buffers(pa.float64(), len(values), [None, pa.py_buffer(values)])


def _batches(rows: list, size: int) -> Iterable[list]:
    for start in range(0, max(len(rows), 1), size):  # one (empty) batch for no rows: the file still gets its schema
        yield rows[start : start + size]
