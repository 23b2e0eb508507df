"""The features table: key columns that identify a file, then named feature columns."""
from __future__ import annotations

import csv
from typing import TYPE_CHECKING

from ser.errors import SerError

if TYPE_CHECKING:
    import pandas as pd

KEY_COLUMNS = ("file", "path", "speaker", "emotion", "sha256")
SET_COLUMN = "set"  # added by read_split_table: train or test


def read_manifest_keys(manifest_path) -> list[dict[str, str]]:
    """The key columns of each manifest row, as strings, in manifest order.

    Plain ``csv``: quick to import (no pandas), and only these rows are held (arrow's csv
    reader would leave its buffers in arrow's memory pool, tens of MB for a large corpus).
    """
    with open(manifest_path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [key for key in KEY_COLUMNS if key not in (reader.fieldnames or [])]
        if missing:
            raise SerError(f"{manifest_path} lacks the columns {missing}; re-run the ingest stage")
        repeated: dict[str, str] = {}  # speakers and emotions recur: keep one copy of each
        return [{key: repeated.setdefault(row[key], row[key]) if key in ("speaker", "emotion") else row[key]
                 for key in KEY_COLUMNS} for row in reader]


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
