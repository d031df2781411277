"""Feature-repo definitions: sources, feature views and feature services, parsed from files.

- ``model``: the dataclasses (Column, Feature, Source, FeatureView, FeatureService) and their dict form;
- ``header``: the ``-- key: value`` header of a definition file and the parsers of its values;
- ``sql``: the readers of source, feature-view and feature-service files.

Parsing is purely syntactic; the registry later validates the SQL with Flink's own planner and fills
in each view's output schema (``FeatureView.features``).
"""

from featurestream.definitions.header import parse_header
from featurestream.definitions.model import Column, Feature, FeatureService, FeatureView, Source
from featurestream.definitions.sql import (
    WINDOW_TVFS,
    WindowParams,
    parse_feature_service,
    parse_feature_view,
    parse_source,
    read_file,
    referenced_tables,
    window_kind,
    window_params,
)

__all__ = [
    "WINDOW_TVFS",
    "Column",
    "Feature",
    "FeatureService",
    "FeatureView",
    "Source",
    "WindowParams",
    "parse_feature_service",
    "parse_feature_view",
    "parse_header",
    "parse_source",
    "read_file",
    "referenced_tables",
    "window_kind",
    "window_params",
]
