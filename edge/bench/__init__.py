"""Side-by-side throughput and latency measurements (issue 4 item 8): `moldpilot bench` and
benchmarks/bench_pipeline.py both call `edge.bench.suite.run_suite`.

- stages.py   one function per measured stage: bare onnxruntime, decode only, the naive loop, replay
- latency.py  triggered latency on a live-like source, from the pipeline's own timestamps
- suite.py    footage, one fresh process per stage, the physical limit L, ratios, targets, the table
"""
