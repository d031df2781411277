"""Monitoring: freshness, data quality, drift, served-vector logging and the online/offline audit."""

from featurestream.monitoring.errors import MonitoringError

__all__ = ["MonitoringError"]
