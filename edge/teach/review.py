"""The review sink: NG and NO_DECISION parts, and a random share of OK parts, into the review queue.

It runs on its own thread behind the fan-out (edge/sinks/base.py), so encoding and writing never touch
the inference thread. Its pictures are the pipeline's evidence copies (`wants_evidence`): rejected
parts always carry them; an OK part carries them only when the pipeline drew it for review, on the
inference thread, with the share this sink names per cavity (`ok_evidence_share`: `review.ok_sample`,
or 1.0 for a cavity a collect run is filling). The draw is one random number per OK part and the copy
of a sampled crop happens after the verdict's time stamp (edge/pipeline/lane.py), so the line's latency
does not pay for the review. An OK part with evidence is therefore a sampled one: no second draw here.

`ReviewDesk` is what the console is handed: the queue, the labels writer and the collector.
A part with no picture (no frame: camera lost, trigger overrun) cannot be reviewed; it is counted in
`no_picture` and shown, never silently left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from edge.config import ReviewSection
from edge.teach.collect import Collector, review_record
from edge.teach.labels import Labels
from edge.teach.queue import OK_SAMPLE, ReviewQueue
from edge.verdict import Decision, Verdict


@dataclass(frozen=True)
class ReviewDesk:
    queue: ReviewQueue
    labels: Labels
    collector: Collector
    sink: ReviewSink

    @property
    def defect_classes(self) -> list[str]:
        return [c for c in self.labels.class_names if c != self.labels.ok_class]


class ReviewSink:
    name = "review"
    wants_evidence = True

    def __init__(self, queue: ReviewQueue, collector: Collector, ok_sample: float,
                 model_version: str | None = None) -> None:
        self.queue, self.collector = queue, collector
        self.ok_sample = ok_sample
        self.model_version = model_version
        self.no_picture = 0  # rejected parts without a crop (no frame); only this thread writes it

    def ok_evidence_share(self, cavity: int) -> float:
        """Share of this cavity's OK parts whose crop the pipeline copies (inference thread, no lock)."""
        return 1.0 if self.collector.wants(cavity) else self.ok_sample

    def open(self) -> None:
        """The queue and the labels were read and reconciled when they were built."""

    def write(self, verdicts: Sequence[Verdict]) -> int:
        """Returns how many parts meant for the queue could not be stored."""
        skipped = 0
        for verdict in verdicts:
            if self.collector.take(verdict):
                continue
            evidence = verdict.evidence
            if evidence is None:
                self.no_picture += verdict.decision is not Decision.OK
                continue
            kind = OK_SAMPLE if verdict.decision is Decision.OK else verdict.decision.name.lower()
            record = {**review_record(verdict, self.model_version), "kind": kind}
            skipped += self.queue.add(record, evidence.crop_bgr, evidence.heatmap) is None
        return skipped

    def close(self) -> None:
        """Every part is on disk when `write` returns; nothing is buffered."""


def build_review(review: ReviewSection, class_names: Sequence[str], ok_class: str,
                 model_version: str | None) -> ReviewDesk:
    """The station's review desk from `review:`: reads the queue, reconciles the labels with it."""
    queue = ReviewQueue(review.folder, review.max_parts)
    labels = Labels(review.dataset, class_names, ok_class, queue)
    collector = Collector(labels, model_version)
    sink = ReviewSink(queue, collector, review.ok_sample, model_version)
    return ReviewDesk(queue, labels, collector, sink)
