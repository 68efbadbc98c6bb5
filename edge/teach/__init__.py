"""Teaching the station its mold: the review queue, labels filed into a dataset in the trainer's layout,
collect runs, training and validation jobs and the threshold preview.

Below the console and above the sinks in the layers: the console drives it, and it never imports the
console, the pipeline or the station. What must run "the same pipeline as replay" (validation on
footage) runs `python -m edge.cli replay` / `eval` as a low-priority child process.
"""
