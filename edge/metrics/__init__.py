"""Station metrics: a Prometheus endpoint and the figures the MQTT status carries (see station.py)."""

from edge.metrics.station import StationMetrics

__all__ = ["StationMetrics"]
