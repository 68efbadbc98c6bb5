"""The inference pipeline: feeds (feeds.py), the loop (loop.py), its counters (stats.py) and the
factory that wires a station from its config (build.py). Import from the submodules; this package
imports nothing itself so that edge.pipeline.capture and the loop can import each other's pieces freely."""
