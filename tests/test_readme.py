"""What the README promises a user, checked against the text (EN and KO keep the same promises)."""

from __future__ import annotations

import argparse
from pathlib import Path

from edge.cli import build_parser

REPO = Path(__file__).resolve().parents[1]


def section(name: str, heading: str) -> str:
    """From `heading` to the next heading of any level (a section ends at `## ` too)."""
    text = (REPO / name).read_text(encoding="utf-8")
    start = text.index(heading)
    ends = [i for i in (text.find("\n### ", start + 1), text.find("\n## ", start + 1)) if i != -1]
    end = min(ends, default=len(text))
    return text[start:end]


def test_payload_section_says_at_least_once_and_dedupe_by_id() -> None:
    en = section("README.md", "### Payloads")
    ko = section("README.ko.md", "### 페이로드")
    assert "at least once" in en and "dedupe by `id`" in en and "Order is kept across restarts" in en
    assert "최소 1회" in ko and "`id`로 중복" in ko and "순서는 유지" in ko


def test_verb_list_names_every_verb() -> None:
    (verbs,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    for name in ("README.md", "README.ko.md"):
        line = next(ln for ln in (REPO / name).read_text(encoding="utf-8").splitlines()
                    if ln.startswith("moldpilot --help"))
        assert line.split(":", 1)[1].split() == list(verbs.choices), name


def test_no_machine_paths_and_no_design_doc_the_user_lacks() -> None:
    for name in ("README.md", "README.ko.md"):
        text = (REPO / name).read_text(encoding="utf-8")
        assert "/work/" not in text and "DESIGN.md" not in text, name


def test_mbpoll_walkthrough_explains_192_before_the_heartbeat() -> None:
    en = section("README.md", "### By hand with mbpoll")
    ko = section("README.ko.md", "### mbpoll로 직접 확인하기")
    for text in (en, ko):
        assert "[100] 192 = ONLINE + ERROR" in text and "$M -r 5 /dev/ttyUSB0 1" in text
    assert "the heartbeat has timed out" in en and "시간 초과" in ko
