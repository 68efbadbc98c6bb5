"""The teach loop on the station: the review queue, labels into a dataset in the trainer's layout, and
collect runs (edge/teach/review.py, labels.py, collect.py)."""
