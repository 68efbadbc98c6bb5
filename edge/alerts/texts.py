"""Alert message texts, English and Korean, for the people on the shop floor.

Korean is written the way a process engineer at a Korean mold shop writes it in a chat or on a board
("3번 캐비티 불량률 12%"), with the English defect name kept where the Korean term alone is ambiguous.
One template per (code, lifecycle): `new` and `update` share a text, `end` says what came back to normal.
"""

from __future__ import annotations

from typing import Literal

Language = Literal["en", "ko"]

DEFECT_KO = {
    "short_shot": "미성형(short shot)",
    "flash": "버(플래시)",
    "sink_mark": "싱크마크",
    "burn": "탄화(가스 탄)",
    "scratch": "스크래치",
    "crack": "크랙",
    "warp": "휨",
}

_TEXTS: dict[Language, dict[str, str]] = {
    "en": {
        "NG_STREAK": "cavity {cavity}: {count} NG parts in a row (last: {defect})",
        "NG_STREAK/end": "cavity {cavity}: NG streak ended after {count} parts",
        "CAVITY_NG_RATE": "cavity {cavity}: NG {rate} over the last {window} shots, baseline {baseline}; "
        "top defect: {defect} {defect_rate}",
        "CAVITY_NG_RATE/end": "cavity {cavity}: NG rate back to {rate} over the last {window} shots",
        "NO_DECISION": "{count} part(s) without a decision ({error}); the PLC rejects them",
        "NO_DECISION/end": "decisions are back ({count} part(s) without one in total)",
        "MODEL_ERROR": "model error on {count} part(s); they are rejected as NO_DECISION",
        "MODEL_ERROR/end": "model working again ({count} error(s) in total)",
        "CAMERA_LOST": "camera lost{detail}",
        "CAMERA_LOST/end": "camera back",
        "PLC_LINK_LOST": "PLC link lost{detail}",
        "PLC_LINK_LOST/end": "PLC link back",
        "OUTBOX_OVERFLOW": "MQTT outbox full: {count} oldest message(s) dropped",
        "OUTBOX_OVERFLOW/end": "MQTT outbox drained ({count} message(s) dropped in total)",
        "DISK_LOW": "disk low: {free_mb} MB free; not stored so far: {ng_store} NG evidence set(s), "
        "{jsonl} JSONL line(s), {mqtt_outbox} MQTT message(s)",
        "DISK_LOW/end": "disk space back: {free_mb} MB free",
        "MODEL_PROMOTED": "model {version} promoted by {who}: it judges from now on",
        "MODEL_ROLLED_BACK": "model rolled back to {version} by {who}: it judges from now on",
        "no_baseline": "not known yet",
    },
    "ko": {
        "NG_STREAK": "{cavity}번 캐비티 {count}개 연속 불량 (마지막: {defect})",
        "NG_STREAK/end": "{cavity}번 캐비티 연속 불량 해소 ({count}개 연속 후 양품)",
        "CAVITY_NG_RATE": "{cavity}번 캐비티 불량률 {rate} (최근 {window}샷, 기준 {baseline}), "
        "주요 불량: {defect} {defect_rate}",
        "CAVITY_NG_RATE/end": "{cavity}번 캐비티 불량률 정상 복귀: {rate} (최근 {window}샷)",
        "NO_DECISION": "판정 불가 {count}건 ({error}), 해당 제품은 PLC에서 배출 처리",
        "NO_DECISION/end": "판정 정상 복귀 (판정 불가 총 {count}건)",
        "MODEL_ERROR": "검사 모델 오류 {count}건, 해당 제품은 판정 불가로 배출",
        "MODEL_ERROR/end": "검사 모델 정상 복귀 (오류 총 {count}건)",
        "CAMERA_LOST": "카메라 연결 끊김{detail}",
        "CAMERA_LOST/end": "카메라 연결 복구",
        "PLC_LINK_LOST": "PLC 통신 끊김{detail}",
        "PLC_LINK_LOST/end": "PLC 통신 복구",
        "OUTBOX_OVERFLOW": "MQTT 미전송 보관함 초과: 오래된 메시지 {count}건 삭제",
        "OUTBOX_OVERFLOW/end": "MQTT 미전송 보관함 정상 (대기 0건, 총 {count}건 삭제됨)",
        "DISK_LOW": "디스크 공간 부족: 여유 {free_mb} MB, 지금까지 저장 못 함: 불량 증거 {ng_store}건, "
        "JSONL {jsonl}줄, MQTT 메시지 {mqtt_outbox}건",
        "DISK_LOW/end": "디스크 공간 정상 복귀: 여유 {free_mb} MB",
        "MODEL_PROMOTED": "검사 모델 {version} 적용 ({who}), 지금부터 이 모델로 판정",
        "MODEL_ROLLED_BACK": "검사 모델 {version}(으)로 되돌림 ({who}), 지금부터 이 모델로 판정",
        "no_baseline": "아직 없음",
    },
}


def defect_name(defect: str | None, language: Language) -> str:
    if defect is None:
        return "-"
    return DEFECT_KO.get(defect, defect) if language == "ko" else defect


def percent(rate: float | None, language: Language) -> str:
    """12% / 0.5%: whole percent from 1% up, one decimal below (a 0.4% baseline is not 0%)."""
    if rate is None:
        return _TEXTS[language]["no_baseline"]
    pct = 100.0 * rate
    return f"{pct:.0f}%" if pct >= 1.0 or pct == 0.0 else f"{pct:.1f}%"


def render(code: str, ending: bool, language: Language, **fields: object) -> str:
    """The message for an alert; `fields` fill the template (defect names and rates already rendered)."""
    texts = _TEXTS[language]
    key = f"{code}/end" if ending else code
    if "detail" in fields:
        fields["detail"] = f": {fields['detail']}" if fields["detail"] else ""
    return texts[key].format(**fields)
