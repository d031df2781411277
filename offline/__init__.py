"""The offline store: Parquet layout, DuckDB point-in-time joins, training sets, ad-hoc SQL."""

from featurestream.offline.errors import LabelError, OfflineError
from featurestream.offline.layout import partition_dir, write_rows
from featurestream.offline.pit import JoinReport, ViewReport
from featurestream.offline.training import TrainingSet, build_training_set

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
