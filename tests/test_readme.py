"""What the README promises a user, checked against the text (EN and KO keep the same promises)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def section(name: str, heading: str) -> str:
    text = (REPO / name).read_text(encoding="utf-8")
    start = text.index(heading)
    end = text.find("\n### ", start + len(heading))
    return text[start:end]


def test_payload_section_says_at_least_once_and_dedupe_by_id() -> None:
    en = section("README.md", "### Payloads")
    ko = section("README.ko.md", "### 페이로드")
    assert "at least once" in en and "dedupe by `id`" in en and "Order is kept across restarts" in en
    assert "최소 1회" in ko and "`id`로 중복" in ko and "순서는 유지" in ko
