"""The features table: key columns that identify a file, then named feature columns."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

KEY_COLUMNS = ("file", "path", "speaker", "emotion", "sha256")
SET_COLUMN = "set"  # added by read_split_table: train or test


def read_manifest_keys(manifest_path) -> list[dict[str, str]]:
    """The key columns of each manifest row, as strings, in manifest order (without pandas, for a fast start)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    table = pacsv.read_csv(manifest_path, convert_options=pacsv.ConvertOptions(
        include_columns=list(KEY_COLUMNS), column_types={key: pa.string() for key in KEY_COLUMNS},
        strings_can_be_null=False, quoted_strings_can_be_null=False))
    return table.to_pylist()


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
