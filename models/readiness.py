"""The readiness verdict: READY / NOT READY in words a controls engineer can act on, English and Korean.

From the decisions at the operating point on images the model did not train on (out-of-fold scores in
`moldpilot train`, the given folder in `moldpilot eval`):
- READY when the escape target is verified (models/operating_point.py: the 95 % upper bound of the escape
  rate is at most the target) and the false-reject rate is at most `max_false_reject`;
- the expected escape and false-reject rates with 95 % Clopper-Pearson ranges from the counts;
- the weakest defect classes (the largest share passed as good);
- what to collect next: enough defect photos to verify the target, shared out by class (more for the
  classes that pass), or, when the model misses more than the target, photos of the classes it misses.

Both languages are written from the same numbers by `_text`; the card stores the numbers and the lines.
"""

from __future__ import annotations

import math

import numpy as np

from models.operating_point import defects_needed, interval, upper_bound

WEAKEST_SHOWN = 3
ANY_DEFECT = "*"  # "collect" entry for defects of any kind (good-only models without defect photos)
ANY_DEFECT_NAME = {"en": "defects of any kind", "ko": "불량(종류 무관)"}
MIN_SUGGESTED_PHOTOS = 20  # a smaller batch of new photos rarely changes what a model learns
# Beyond this many times the defect photos at hand, collecting more of the same is not the advice: the
# escape rate is too close to the target (casting photos: 5 of 1,133 pass, 38,000 would be needed).
MAX_DEFECT_GROWTH = 4
BASIS = {
    "cv": {"en": "cross-validation on the {n} training images", "ko": "학습 이미지 {n}장의 교차 검증"},
    "eval": {"en": "the {n} images given", "ko": "주어진 이미지 {n}장"},
    "val": {"en": "the {n} validation images", "ko": "검증 이미지 {n}장"},
}


def _about(count: float) -> int:
    """A photo count rounded up to a multiple of ten ("about 80"), at least MIN_SUGGESTED_PHOTOS."""
    return max(MIN_SUGGESTED_PHOTOS, math.ceil(count / 10.0) * 10)


def _rate(failures: int, trials: int) -> dict:
    low, high = interval(failures, trials)
    return {"rate": failures / trials if trials else None, "low": low, "high": high,
            "upper_95": upper_bound(failures, trials), "count": failures, "of": trials}


def _collect(missed: dict[str, tuple[int, int]], escape_rate: float, target: float,
             n_def: int) -> tuple[list[dict], int | None]:
    """Photos to add per defect class, and the defect total that would verify the target (or None)."""
    needed = defects_needed(escape_rate, target)
    if needed is not None and (escape_rate == 0 or needed <= MAX_DEFECT_GROWTH * n_def):
        # Share the shortfall out by class, weighted towards the classes that pass (missed + 1).
        weights = {c: m + 1 for c, (m, _) in missed.items()}
        total = sum(weights.values())
        more = needed - n_def
        return [{"class": c, "more": _about(more * w / total)} for c, w in weights.items()], needed
    # The model misses too much: teach it the classes it misses, about doubling each of them.
    return [{"class": c, "more": _about(n)} for c, (m, n) in missed.items() if m > 0], needed


def readiness(labels: np.ndarray, p_defect: np.ndarray, threshold: float, class_names: list[str],
              target_escape: float, max_false_reject: float, basis: str = "cv") -> dict:
    """Verdict for true `labels` (0 = ok) and scores `p_defect` at `threshold` (see the module docstring)."""
    defective = labels != 0
    ng = p_defect >= threshold
    escape = _rate(int((defective & ~ng).sum()), int(defective.sum()))
    false_reject = _rate(int((~defective & ng).sum()), int((~defective).sum()))
    missed = {name: (int(((labels == i) & ~ng).sum()), int((labels == i).sum()))
              for i, name in enumerate(class_names) if i != 0 and (labels == i).any()}
    verified = escape["of"] > 0 and escape["upper_95"] <= target_escape
    false_reject_ok = false_reject["rate"] is None or false_reject["rate"] <= max_false_reject
    weakest = sorted(((c, m, n) for c, (m, n) in missed.items() if m > 0), key=lambda t: -t[1] / t[2])
    collect: list[dict] = []
    needed = None
    if not verified and escape["of"]:
        collect, needed = _collect(missed, escape["rate"], target_escape, escape["of"])
    elif not escape["of"]:  # good-only without defect photos: nothing shows the escape rate yet
        needed = defects_needed(0.0, target_escape)
        collect = [{"class": ANY_DEFECT, "more": _about(needed or 0)}]
    result = {
        "verdict": "READY" if verified and false_reject_ok else "NOT READY",
        "ready": bool(verified and false_reject_ok),
        "basis": basis,
        "n": len(labels),
        "threshold": float(threshold),
        "target_escape": target_escape,
        "max_false_reject": max_false_reject,
        "escape_verified": bool(verified),
        "escape": escape,
        "false_reject": false_reject,
        "defects_needed": needed,
        "weakest_classes": [{"class": c, "missed": m, "of": n} for c, m, n in weakest[:WEAKEST_SHOWN]],
        "collect": collect,
    }
    result["text"] = {lang: _text(result, lang) for lang in ("en", "ko")}
    return result


def readiness_text(verdict: dict) -> str:
    """The stored verdict as printed by `train` and `eval`: the English lines, then the Korean ones."""
    return "\n".join([*verdict["text"]["en"], *verdict["text"]["ko"]])


def _pct(rate: float | None) -> str:
    if rate is None:
        return "n/a"
    return f"{100 * rate:.2f} %" if rate < 0.01 else f"{100 * rate:.1f} %"


def _escape_problem(r: dict, en: bool) -> str:
    """The line that says why the escape target is not verified."""
    esc = r["escape"]
    target, needed = _pct(r["target_escape"]), r["defects_needed"]
    if needed is not None and esc["count"] and needed > MAX_DEFECT_GROWTH * esc["of"]:
        return (f"Cannot verify the escape target of {target}: at the escape rate seen it would take "
                f"about {needed} defect photos; make the model miss fewer instead." if en else
                f"불량 유출 목표 {target}를 검증할 수 없습니다: 지금의 유출률로는 불량 사진 약 "
                f"{needed}장이 필요합니다. 대신 모델이 놓치는 불량을 줄이세요.")
    if needed is not None:
        more = needed - esc["of"]
        return (f"Cannot verify the escape target of {target}: {esc['of']} defect photos are too few; "
                f"about {needed} are needed ({more} more)." if en else
                f"불량 유출 목표 {target}를 검증할 수 없습니다: 불량 사진 {esc['of']}장은 "
                f"너무 적습니다. 약 {needed}장이 필요합니다 ({more}장 더).")
    return (f"The escape target of {target} is not met: {_pct(esc['rate'])} of defects pass as good."
                if en else f"불량 유출 목표 {target}를 충족하지 못합니다: 불량의 {_pct(esc['rate'])}가 "
                "양품으로 통과합니다.")


def _problems(r: dict, en: bool) -> list[str]:
    """Why the verdict is NOT READY, one line per reason (none when READY)."""
    fr = r["false_reject"]
    lines = [] if r["escape_verified"] else [_escape_problem(r, en)]
    if fr["rate"] is not None and fr["rate"] > r["max_false_reject"]:
        lines.append(f"Too many good parts rejected: {_pct(fr['rate'])} > {_pct(r['max_false_reject'])}."
                     if en else f"양품 과검출이 너무 많습니다: {_pct(fr['rate'])} > "
                     f"{_pct(r['max_false_reject'])}.")
    return lines


def _text(r: dict, lang: str) -> list[str]:
    """The verdict as printed lines, in `lang` ('en' or 'ko'), from the numbers in `r`."""
    en = lang == "en"
    basis = BASIS[r["basis"]][lang].format(n=r["n"])
    headline = (f"Verdict: {r['verdict']} ({basis})" if en else
                f"판정: {'준비됨' if r['ready'] else '준비 안 됨'} ({r['verdict']}; {basis})")
    lines = [headline, *_problems(r, en)]
    for key, en_name, ko_name, en_what, ko_subject, ko_what in (
            ("escape", "Expected escape", "예상 불량 유출률", "defect photos passed as good", "불량 사진",
             "양품으로 통과"),
            ("false_reject", "Expected false reject", "예상 과검출률", "good photos rejected", "양품 사진",
             "불량 판정")):
        d = r[key]
        span = f"{_pct(d['low'])} - {_pct(d['high'])}"
        lines.append(f"{en_name}: {_pct(d['rate'])} (95 % range {span}; {d['count']} of {d['of']} {en_what})"
                     if en else f"{ko_name}: {_pct(d['rate'])} (95 % 범위 {span}; "
                     f"{ko_subject} {d['of']}장 중 {d['count']}장 {ko_what})")
    weak = ", ".join(f"{w['class']} ({w['missed']} of {w['of']} passed)" if en else
                     f"{w['class']} ({w['of']}장 중 {w['missed']}장 통과)" for w in r["weakest_classes"])
    lines.append(f"Weakest classes: {weak or 'none (no defect passed)'}" if en else
                 f"가장 약한 클래스: {weak or '없음 (통과한 불량 없음)'}")
    if r["collect"]:
        names = {c["class"]: ANY_DEFECT_NAME[lang] if c["class"] == ANY_DEFECT else c["class"]
                 for c in r["collect"]}
        wants = ", ".join(f"about {c['more']} more photos of {names[c['class']]}" if en else
                          f"{names[c['class']]} 사진 약 {c['more']}장" for c in r["collect"])
        lines.append(f"Collect next: add {wants}." if en else f"다음 수집: {wants}을 더 추가하세요.")
    elif not r["ready"]:
        lines.append("Collect next: more photos of good parts like the rejected ones." if en else
                     "다음 수집: 불량 판정된 것과 비슷한 양품 사진을 더 추가하세요.")
    return lines
