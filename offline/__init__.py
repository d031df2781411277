"""The offline store: Parquet layout, DuckDB point-in-time joins, training sets, ad-hoc SQL."""

from offline.errors import LabelError, OfflineError
from offline.layout import partition_dir, write_rows
from offline.pit import JoinReport, ViewReport
from offline.training import TrainingSet, build_training_set

__all__ = [
    "JoinReport",
    "LabelError",
    "OfflineError",
    "TrainingSet",
    "ViewReport",
    "build_training_set",
    "partition_dir",
    "write_rows",
]
