"""Every user-facing health text, in English and Korean, in one table: titles, what to do, figures.

The alert layer, the console and `doctor` take their words from here, so a condition reads the same
everywhere and a translation is fixed in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from edge.health.conditions import CheckResult, Condition

Lang = Literal["en", "ko"]
Phase = Literal["new", "update", "end"]

TITLES: Mapping[Condition, Mapping[Lang, str]] = {
    Condition.CAMERA_LOST: {"en": "Camera lost", "ko": "카메라 연결 끊김"},
    Condition.CAMERA_MOVED: {"en": "Camera moved", "ko": "카메라 위치 틀어짐"},
    Condition.BLOCKED: {"en": "Camera view blocked or lens dirty", "ko": "카메라 시야 가림 또는 렌즈 오염"},
    Condition.BLURRED: {"en": "Camera out of focus", "ko": "카메라 초점 흐려짐"},
    Condition.LIGHTING: {"en": "Lighting changed", "ko": "조명 변화"},
    Condition.SCORE_DRIFT: {"en": "Model scores drifted", "ko": "모델 점수 분포 변화"},
    Condition.MOLD_CHANGED: {"en": "Different mold or part in the fixture",
                             "ko": "지그에 다른 금형 또는 부품"},
}

ACTIONS: Mapping[Condition, Mapping[Lang, str]] = {
    Condition.CAMERA_LOST: {"en": "Check the camera cable and power.",
                            "ko": "카메라 케이블과 전원을 확인하세요."},
    Condition.CAMERA_MOVED: {"en": "Put the camera back in place, or take a new health reference.",
                             "ko": "카메라를 원래 위치로 되돌리거나 상태 기준을 다시 등록하세요."},
    Condition.BLOCKED: {"en": "Clear the view and clean the lens.",
                        "ko": "시야를 가리는 물체를 치우고 렌즈를 닦으세요."},
    Condition.BLURRED: {"en": "Refocus the lens and lock its focus ring.",
                        "ko": "렌즈 초점을 다시 맞추고 초점 링을 고정하세요."},
    Condition.LIGHTING: {"en": "Check the lamp; if it was changed on purpose, take a new health reference.",
                         "ko": "조명을 확인하세요. 일부러 바꾼 것이면 상태 기준을 다시 등록하세요."},
    Condition.SCORE_DRIFT: {"en": "Have recent parts reviewed; the model may need retraining.",
                            "ko": "최근 부품을 검토하세요. 모델 재학습이 필요할 수 있습니다."},
    Condition.MOLD_CHANGED: {"en": "Select the fitted mold's recipe, or take a new health reference.",
                             "ko": "장착된 금형의 레시피를 선택하거나 상태 기준을 다시 등록하세요."},
}

# One template per measure a check reports ({figure} and {bound} in the measure's unit).
MEASURES: Mapping[str, Mapping[Lang, str]] = {
    "frame_age_s": {"en": "no frame for {figure:.1f} s (limit {bound:.1f} s)",
                    "ko": "{figure:.1f}초 동안 영상 없음 (한계 {bound:.1f}초)"},
    "corner_shift_px": {"en": "view moved {figure:.1f} px (limit {bound:.1f} px)",
                        "ko": "화면 {figure:.1f} px 이동 (한계 {bound:.1f} px)"},
    "view_share_lost": {"en": "{figure:.0%} of the view dark or flat (limit {bound:.0%})",
                        "ko": "화면의 {figure:.0%}가 어둡거나 흐림 (한계 {bound:.0%})"},
    "contrast_loss": {"en": "contrast down {figure:.0%} (limit {bound:.0%})",
                      "ko": "대비 {figure:.0%} 저하 (한계 {bound:.0%})"},
    "sharpness_loss": {"en": "sharpness down {figure:.0%} (limit {bound:.0%})",
                       "ko": "선명도 {figure:.0%} 저하 (한계 {bound:.0%})"},
    "brightness_change": {"en": "brightness changed {figure:.0%} (limit {bound:.0%})",
                          "ko": "밝기 {figure:.0%} 변화 (한계 {bound:.0%})"},
    "colour_shift": {"en": "colour shifted {figure:.3f} (limit {bound:.3f})",
                     "ko": "색상 {figure:.3f} 변화 (한계 {bound:.3f})"},
    "shape_distance": {"en": "part shape differs {figure:.2f} (limit {bound:.2f})",
                       "ko": "부품 형상 차이 {figure:.2f} (한계 {bound:.2f})"},
    "colour_distance": {"en": "part colour differs {figure:.2f} (limit {bound:.2f})",
                        "ko": "부품 색상 차이 {figure:.2f} (한계 {bound:.2f})"},
    "psi": {"en": "score distribution shift PSI {figure:.2f} (limit {bound:.2f})",
            "ko": "점수 분포 변화 PSI {figure:.2f} (한계 {bound:.2f})"},
    "no_decision_rate_rise": {"en": "NO_DECISION rate up {figure:.0%} (limit {bound:.0%})",
                              "ko": "판정 불가 비율 {figure:.0%} 증가 (한계 {bound:.0%})"},
}

PHASES: Mapping[Phase, Mapping[Lang, str]] = {
    "new": {"en": "{title}: {measure}. {action}", "ko": "{title}: {measure}. {action}"},
    "update": {"en": "{title} (still): {measure}. {action}", "ko": "{title} (계속): {measure}. {action}"},
    "end": {"en": "{title}: cleared ({measure}).", "ko": "{title}: 해제됨 ({measure})."},
}


def alert_message(phase: Phase, result: CheckResult, lang: Lang = "en") -> str:
    """One line for an alert or the console, e.g. "Camera moved: view moved 12.3 px (limit 3.0 px). ..."."""
    measure = MEASURES[result.measure][lang].format(figure=result.figure, bound=result.bound)
    return PHASES[phase][lang].format(
        title=TITLES[result.condition][lang], measure=measure, action=ACTIONS[result.condition][lang]
    )
