"""Where verdicts go: each sink on its own thread behind a bounded queue (base.py), fanned out so a slow
or failing sink never stalls inference or the other sinks. The JSONL sink (jsonl.py) and the in-memory
sink (memory.py) live here; the PLC link, MQTT, NG store and metrics sinks plug into the same interface."""

from edge.sinks.base import FanOut, Sink, SinkPolicy, SinkStats, SinkWorker

__all__ = ["FanOut", "Sink", "SinkPolicy", "SinkStats", "SinkWorker"]
