"""Korean and English: one catalogue for every label, message and alert text of the console.

Templates call `t(key, **values)`; the page's JavaScript gets the same catalogue (static/common.js
`MP.t`, `MP.label`). The language is switched on the page and remembered in the `mp_lang` cookie; a
first visit follows the browser's Accept-Language. Values from the station (decisions, NO_DECISION
reasons, the shipped model's defect classes, camera states) are labels too and are translated here;
what is data (model name, sha256, numbers, user names) is shown as it is. tests/edge/console checks
that both languages have the same keys and that no template holds text outside `t()`.
"""

from __future__ import annotations

from typing import Literal

Lang = Literal["en", "ko"]
LANG_COOKIE = "mp_lang"

# key: (English, Korean)
_TEXTS: dict[str, tuple[str, str]] = {
    "app.title": ("MoldPilot station console", "MoldPilot 스테이션 콘솔"),
    "nav.live": ("Live view", "실시간 화면"),
    "nav.panel": ("Station panel", "스테이션 현황"),
    "nav.rois": ("ROI editor", "검사 영역 편집"),
    "nav.gallery": ("NG gallery", "불량 갤러리"),
    "nav.login": ("Log in", "로그인"),
    "lang.label": ("Language", "언어"),
    "lang.ko": ("한국어", "한국어"),  # each language is named in itself, on both pages
    "lang.en": ("English", "English"),
    "role.viewer": ("viewer", "조회자"),
    "role.engineer": ("engineer", "엔지니어"),
    "yes": ("yes", "예"),
    "no": ("no", "아니오"),
    "login.title": ("Log in to the station console", "스테이션 콘솔 로그인"),
    "login.user": ("User", "사용자"),
    "login.password": ("Password", "비밀번호"),
    "login.submit": ("Log in", "로그인"),
    "login.logout": ("Log out", "로그아웃"),
    "err.wrong": ("Wrong user or password.", "사용자 또는 비밀번호가 틀렸습니다."),
    "err.locked": ("Too many failed logins: wait a minute and try again.",
                   "로그인 실패가 너무 많습니다. 1분 후 다시 시도하십시오."),
    "err.csrf": ("Refused: the page's security token is missing or old; reload the page.",
                 "거부됨: 페이지 보안 토큰이 없거나 만료되었습니다. 페이지를 새로 고치십시오."),
    "err.role": ("Refused: only an engineer may change the station.",
                 "거부됨: 엔지니어만 스테이션 설정을 변경할 수 있습니다."),
    "err.login": ("Log in first.", "먼저 로그인하십시오."),
    "cavity.n": ("Cavity {n}", "캐비티 {n}"),
    "decision.OK": ("OK", "OK"),
    "decision.NG": ("NG", "NG"),
    "decision.NO_DECISION": ("No decision", "판정 불가"),
    "reason.DEADLINE_MISSED": ("deadline missed", "제한 시간 초과"),
    "reason.MODEL_ERROR": ("model error", "모델 오류"),
    "reason.NO_FRAME": ("no frame", "영상 없음"),
    "reason.TRIGGER_OVERRUN": ("trigger overrun", "트리거 초과"),
    "reason.PREPROCESS_ERROR": ("crop failed", "영역 자르기 실패"),
    "reason.INTERNAL_ERROR": ("internal error", "내부 오류"),
    "reason.RECORDING_ONLY": ("recording only", "녹화 전용"),
    "reason.UNKNOWN_RECIPE": ("unknown recipe", "알 수 없는 레시피"),
    "reason.HEALTH_FAULT": ("health watch: fail safe", "상태 감시: 안전 정지"),
    "health.CAMERA_LOST": ("Camera lost", "카메라 끊김"),
    "health.CAMERA_MOVED": ("Camera moved", "카메라 움직임"),
    "health.BLOCKED": ("View blocked / lens dirty", "시야 가림 / 렌즈 오염"),
    "health.BLURRED": ("Focus lost", "초점 흐림"),
    "health.LIGHTING": ("Lighting changed", "조명 변화"),
    "health.SCORE_DRIFT": ("Score drift", "점수 변화"),
    "health.MOLD_CHANGED": ("Different mold or part", "다른 금형 또는 부품"),
    "health.raised": ("RAISED", "발생"),
    "health.ok": ("ok", "정상"),
    "health.of": ("{figure} (bound {bound})", "{figure} (한계 {bound})"),
    "health.fail_safe": ("Parts sent NO_DECISION because of", "판정 불가로 보내는 이유"),
    "defect.short_shot": ("short shot", "미성형"),
    "defect.flash": ("flash", "버(플래시)"),
    "defect.sink_mark": ("sink mark", "수축 자국"),
    "defect.burn": ("burn", "탄화"),
    "defect.black_spot": ("black spot", "흑점"),
    "defect.scratch": ("scratch", "긁힘"),
    "defect.crack": ("crack", "크랙"),
    "defect.warp": ("warp", "휨"),
    "camera.ok": ("connected", "연결됨"),
    "camera.lost": ("lost", "끊김"),
    "camera.closed": ("closed", "닫힘"),
    "camera.file": ("recording (file)", "녹화 파일"),
    "camera.waiting": ("waiting for the first frame", "첫 영상 대기 중"),
    "camera.state": ("State", "상태"),
    "camera.fps": ("Frames per second", "초당 프레임"),
    "camera.losses": ("Times lost", "끊긴 횟수"),
    "camera.reconnects": ("Reconnects", "재연결"),
    "live.rate": ("Refresh", "갱신 속도"),
    "live.fps": ("{n} per second", "초당 {n}회"),
    "live.heatmap": ("Defect heatmap", "불량 히트맵"),
    "live.frame": ("Frame", "프레임"),
    "live.waiting": ("Waiting for the first judged frame…", "첫 판정 영상을 기다리는 중…"),
    "live.no_verdict": ("no verdict yet", "아직 판정 없음"),
    "live.score": ("score", "점수"),
    "live.camera_lost": ("Camera lost — last good frame taken at {time}",
                         "카메라 끊김 — 마지막 정상 영상 {time}"),
    "live.camera_ok": ("Camera connected", "카메라 연결됨"),
    "live.no_answer": ("No answer from the station", "스테이션 응답 없음"),
    "panel.as_of": ("As of", "기준 시각"),
    "panel.stale": ("no answer from the station: these figures are old",
                    "스테이션 응답 없음: 이전 수치입니다"),
    "panel.counters": ("Parts", "부품 수"),
    "panel.nd_by_reason": ("No decision, by reason", "판정 불가 사유별"),
    "panel.plc": ("PLC link", "PLC 연결"),
    "panel.mqtt": ("MQTT", "MQTT"),
    "panel.camera": ("Camera", "카메라"),
    "panel.model": ("Model", "모델"),
    "panel.health": ("Health watch", "상태 감시"),
    "panel.ng_rate": ("NG rate per cavity", "캐비티별 불량률"),
    "panel.hour": ("Last hour", "최근 1시간"),
    "panel.shift": ("This shift", "이번 교대"),
    "panel.now": ("now", "현재"),
    "panel.no_parts": ("no parts in this window yet", "이 기간에 부품 없음"),
    "panel.none": ("not configured", "설정 안 됨"),
    "panel.ng_of": ("last hour {ng} NG of {n}; shift {sng} of {sn}",
                    "최근 1시간 {n}개 중 불량 {ng}; 교대 {sn}개 중 {sng}"),
    "counter.parts": ("Parts judged", "판정 부품"),
    "counter.ok": ("OK", "OK"),
    "counter.ng": ("NG", "NG"),
    "counter.no_decision": ("No decision", "판정 불가"),
    "counter.deadline_misses": ("Deadline misses", "제한 시간 초과"),
    "counter.frames_in": ("Frames in", "입력 프레임"),
    "counter.frames_dropped": ("Frames dropped", "버린 프레임"),
    "counter.triggers_rejected": ("Triggers refused (overrun)", "거부된 트리거 (초과)"),
    "plc.protocol": ("Protocol", "프로토콜"),
    "plc.port_connected": ("Port open", "포트 열림"),
    "plc.fault": ("Link fault (heartbeat lost)", "연결 이상 (하트비트 끊김)"),
    "plc.peer_lost": ("Peer lost", "상대 끊김"),
    "plc.triggers": ("Triggers", "트리거"),
    "plc.last_trigger_age_s": ("Last trigger, seconds ago", "마지막 트리거 (초 전)"),
    "plc.heartbeat_age_s": ("PLC heartbeat, seconds ago", "PLC 하트비트 (초 전)"),
    "plc.results_posted": ("Results posted", "보낸 결과"),
    "plc.results_acked": ("Results acknowledged", "확인된 결과"),
    "plc.pending": ("RESULTS_PENDING", "RESULTS_PENDING (대기 결과)"),
    "plc.in_flight": ("Results in flight", "전송 중 결과"),
    "plc.overrun": ("OVERRUN", "OVERRUN (초과)"),
    "plc.results_dropped": ("Results dropped", "버린 결과"),
    "plc.port_reconnects": ("Port reconnects", "포트 재연결"),
    "mqtt.connected": ("Connected", "연결됨"),
    "mqtt.backlog": ("Outbox depth", "미전송 메시지"),
    "mqtt.dropped": ("Dropped by the outbox cap", "한도로 버린 메시지"),
    "model.name": ("Name", "이름"),
    "model.created": ("Created", "생성일"),
    "model.sha256": ("sha256 (prefix)", "sha256 (앞부분)"),
    "model.provider": ("Runs on", "실행 장치"),
    "model.p50_ms": ("Trigger to verdict p50, ms", "트리거→판정 p50 (ms)"),
    "model.p99_ms": ("Trigger to verdict p99, ms", "트리거→판정 p99 (ms)"),
    "roi.snapshot": ("Take a snapshot", "스냅샷 찍기"),
    "roi.add": ("Add a cavity", "캐비티 추가"),
    "roi.remove": ("Remove the selected cavity", "선택한 캐비티 삭제"),
    "roi.save": ("Save and apply", "저장 및 적용"),
    "roi.viewer_note": ("You are a viewer: you may look, but only an engineer may save.",
                        "조회자는 볼 수만 있으며 저장은 엔지니어만 할 수 있습니다."),
    "roi.help": ("Drag inside a box to move it, drag its corner to resize it, drag on empty space to draw "
                 "the selected cavity's box. Works with a mouse or a finger.",
                 "상자 안을 끌면 이동, 모서리를 끌면 크기 조정, 빈 곳을 끌면 선택한 캐비티의 상자를 "
                 "그립니다. 마우스와 손가락 모두 됩니다."),
    "roi.cavities": ("Cavities", "캐비티"),
    "roi.number": ("No.", "번호"),
    "roi.preview": ("What the model sees (each crop resized to the model's input)",
                    "모델이 보는 영상 (모델 입력 크기로 조정된 영역)"),
    "roi.saving": ("Saving…", "저장 중…"),
    "roi.saved": ("Saved to {path} and applied; the previous version is kept beside it.",
                  "{path}에 저장하고 적용했습니다. 이전 버전은 옆에 보관됩니다."),
    "roi.applied": ("Applied (this run has no station.yaml to save to).",
                    "적용했습니다 (이 실행에는 저장할 station.yaml이 없습니다)."),
    "roi.refused": ("Not saved:", "저장하지 않음:"),
    "roi.err.empty": ("there is no cavity to save", "저장할 캐비티가 없습니다"),
    "roi.err.malformed": ("the layout sent is not readable", "보낸 배치를 읽을 수 없습니다"),
    "roi.err.repeated": ("cavity number {n} is used twice", "캐비티 번호 {n}이(가) 두 번 쓰였습니다"),
    "roi.err.number": ("cavity number {n} is not between 1 and 16", "캐비티 번호 {n}은(는) 1~16이 아닙니다"),
    "roi.err.zero": ("cavity {n} has zero size", "캐비티 {n}의 크기가 0입니다"),
    "roi.err.outside": ("cavity {n} reaches outside the {w}×{h} frame",
                        "캐비티 {n}이(가) {w}×{h} 영상 밖으로 나갑니다"),
    "roi.err.overlap": ("cavities {a} and {b} overlap", "캐비티 {a}와(과) {b}이(가) 겹칩니다"),
    "roi.err.no_frame": ("no frame from the camera yet", "아직 카메라 영상이 없습니다"),
    "roi.err.write": ("station.yaml could not be written: {why}", "station.yaml을 쓸 수 없습니다: {why}"),
    "gallery.no_store": ("This station keeps no NG store (station.yaml has no storage section).",
                         "이 스테이션에는 불량 저장소가 없습니다 (station.yaml에 storage 항목 없음)."),
    "gallery.cavity": ("Cavity", "캐비티"),
    "gallery.defect": ("Defect or reason", "불량 또는 사유"),
    "gallery.time": ("Time", "기간"),
    "gallery.all": ("All", "전체"),
    "gallery.last_hour": ("Last hour", "최근 1시간"),
    "gallery.last_day": ("Last 24 hours", "최근 24시간"),
    "gallery.apply": ("Filter", "필터"),
    "gallery.empty": ("No NG or no-decision parts match.", "조건에 맞는 불량/판정 불가 부품이 없습니다."),
    "gallery.close": ("Close", "닫기"),
    "gallery.crop": ("Crop", "영역 영상"),
    "gallery.heatmap": ("Heatmap", "히트맵"),
    # -- shadow mode (edge/console/shadow.py) --
    "nav.shadow": ("Shadow model", "섀도 모델"),
    "shadow.help": ("A candidate model judges the live parts beside the active one, at low priority; it "
                    "never changes what is sent to the PLC.",
                    "후보 모델이 낮은 우선순위로 현재 모델과 함께 실시간 부품을 판정합니다. PLC로 보내는 "
                    "판정은 바뀌지 않습니다."),
    "shadow.start": ("Start shadow", "섀도 시작"),
    "shadow.stop": ("Stop shadow", "섀도 중지"),
    "shadow.starting": ("Loading the candidate…", "후보 모델을 불러오는 중…"),
    "shadow.stopping": ("Stopping…", "중지하는 중…"),
    "shadow.viewer_note": ("You are a viewer: only an engineer may start or stop shadow mode.",
                           "조회자는 섀도 모드를 시작하거나 중지할 수 없습니다 (엔지니어 전용)."),
    "shadow.candidate": ("Candidate model", "후보 모델"),
    "shadow.agreement": ("Agreement", "일치율"),
    "shadow.disagreements": ("Newest disagreements with the active model",
                             "현재 모델과 다르게 판정한 최근 부품"),
    "shadow.part": ("Part", "부품"),
    "shadow.shot": ("Shot", "샷"),
    "shadow.cavity": ("Cavity", "캐비티"),
    "shadow.active": ("Active model", "현재 모델"),
    "shadow.shadow": ("Candidate", "후보"),
    "shadow.state": ("State", "상태"),
    "shadow.off": ("off", "꺼짐"),
    "shadow.on": ("judging", "판정 중"),
    "shadow.stopped": ("stopped", "중지됨"),
    "shadow.name": ("Model", "모델"),
    "shadow.version": ("Version", "버전"),
    "shadow.parts_judged": ("Parts judged", "판정한 부품"),
    "shadow.dropped": ("Parts skipped (queue full)", "건너뛴 부품 (대기열 가득)"),
    "shadow.errors": ("Candidate errors", "후보 모델 오류"),
    "shadow.window": ("Parts in the window (last {n})", "구간 내 부품 (최근 {n}개)"),
    "shadow.with_active": ("Same decision as the active model ({n} parts)", "현재 모델과 같은 판정 ({n}개)"),
    "shadow.with_labels": ("Right by the operator's labels ({n} labelled)",
                           "작업자 라벨 기준 정답 ({n}개 라벨)"),
    "shadow.active_with_labels": ("Active model right by the same labels", "같은 라벨 기준 현재 모델 정답"),
    "shadow.err.none": ("This station offers no shadow mode.", "이 스테이션에는 섀도 모드가 없습니다."),
    "shadow.err.start": ("Shadow mode not started: {why}", "섀도 모드를 시작하지 못했습니다: {why}"),
    # -- teach: training, validation and threshold preview (edge/console/teach.py) --
    "nav.teach": (
        "Teach",
        "학습",
    ),
    "teach.no_desk": (
        "This station has no teach desk (no model registry or dataset folder is set up).",
        "이 스테이션에는 학습 기능이 없습니다 (모델 저장소 또는 데이터셋 폴더가 "
        "설정되지 않음).",
    ),
    "teach.viewer_note": (
        "You are a viewer: you may look, but only an engineer may train, validate or save.",
        "조회자는 볼 수만 있으며 학습, 검증, 저장은 엔지니어만 할 수 있습니다.",
    ),
    "teach.dataset": (
        "Labelled parts",
        "라벨링된 부품",
    ),
    "teach.hint": (
        "{defects} defect photos; verifying the 0.5 % escape target needs about {needed} with none "
        "passed.",
        "불량 사진 {defects}장; 불량 유출 목표 0.5 %를 검증하려면 통과 "
        "없이 약 {needed}장이 필요합니다.",
    ),
    "teach.not_trainable": (
        "Not ready to train: {why}",
        "아직 학습할 수 없습니다: {why}",
    ),
    "teach.train": (
        "Start training",
        "학습 시작",
    ),
    "teach.cancel": (
        "Cancel",
        "취소",
    ),
    "teach.job.idle": (
        "No training yet",
        "아직 학습 없음",
    ),
    "teach.job.running": (
        "Running",
        "진행 중",
    ),
    "teach.job.done": (
        "Finished",
        "완료",
    ),
    "teach.job.failed": (
        "Failed",
        "실패",
    ),
    "teach.unsigned": (
        "This station takes signed models only. Sign the model on the engineering PC and add it: "
        "moldpilot models sign {path} --key plant.key, then moldpilot models add {path} --candidate "
        "-c station.yaml",
        "이 스테이션은 서명된 모델만 받습니다. 엔지니어링 PC에서 모델에 서명한 뒤 추가하세요: "
        "moldpilot models sign {path} --key plant.key, 그다음 moldpilot models add {path} --candidate "
        "-c station.yaml",
    ),
    "teach.job.cancelled": (
        "Cancelled",
        "취소됨",
    ),
    "teach.stage": (
        "step {step}: {stage}, {done} of {total} images",
        "단계 {step}: {stage}, {total}장 중 {done}장",
    ),
    "teach.validate_title": (
        "Candidate beside the active model",
        "후보 모델과 현재 모델 비교",
    ),
    "teach.validate": (
        "Validate the candidate",
        "후보 모델 검증",
    ),
    "teach.escapes": (
        "escapes",
        "불량 유출",
    ),
    "teach.false_rejects": (
        "false rejects",
        "과검출",
    ),
    "teach.holdout": (
        "hold-out",
        "검증용 사진",
    ),
    "teach.footage": (
        "footage",
        "녹화 영상",
    ),
    "teach.active": (
        "Active model",
        "현재 모델",
    ),
    "teach.candidate": (
        "Candidate",
        "후보 모델",
    ),
    "teach.disagree": (
        "Parts the two models judge differently",
        "두 모델의 판정이 다른 부품",
    ),
    "teach.disagree_caption": (
        "truth {truth}: active {active}, candidate {candidate}; {right} is right",
        "실제 {truth}: 현재 {active}, 후보 {candidate}; "
        "{right} 판정이 맞음",
    ),
    "teach.threshold_title": (
        "Threshold preview",
        "판정 기준 미리보기",
    ),
    "teach.threshold_help": (
        "Move the slider: the candidate's validation parts show what each threshold would pass and "
        "reject. A part is NG when its score is at or above the threshold.",
        "슬라이더를 움직이면 후보 모델의 검증 부품으로 각 기준값에서 통과와 불량 판정이 "
        "어떻게 되는지 보여줍니다. 점수가 기준값 이상이면 불량입니다.",
    ),
    "teach.tradeoff": (
        "escapes {escapes} of {n_ng} defective, false rejects {false_rejects} of {n_ok} good "
        "(card: {card})",
        "불량 {n_ng}개 중 유출 {escapes}개, 양품 {n_ok}개 중 과검출 "
        "{false_rejects}개 (카드: {card})",
    ),
    "teach.save_threshold": (
        "Save threshold into the card",
        "기준값을 모델 카드에 저장",
    ),
    "teach.threshold_saved": (
        "Saved {value} into the candidate's card.",
        "후보 모델 카드에 {value}을(를) 저장했습니다.",
    ),
    "teach.err.busy": (
        "A training job is running: wait for it or cancel it.",
        "학습이 진행 중입니다. 끝날 때까지 기다리거나 취소하십시오.",
    ),
    "teach.err.refused": (
        "Refused: {why}",
        "거부됨: {why}",
    ),
    "teach.err.no_candidate": (
        "there is no candidate and active model to compare; train one first",
        "비교할 후보 모델과 현재 모델이 없습니다. 먼저 학습하십시오",
    ),
    "teach.err.no_validation": (
        "the candidate has no validation yet; validate it first",
        "후보 모델의 검증 결과가 없습니다. 먼저 검증하십시오",
    ),
    "teach.err.threshold": (
        "the threshold sent is not a number",
        "보낸 기준값이 숫자가 아닙니다",
    ),
    # -- review queue, labels and collect (edge/console/review.py) --
    "nav.review": ("Review", "검토"),
    "review.none": ("This station keeps no review queue (station.yaml has no review section).",
                    "이 스테이션에는 검토 대기열이 없습니다 (station.yaml에 review 항목 없음)."),
    "review.waiting": ("Waiting", "대기"),
    "review.labelled": ("Labelled", "라벨 완료"),
    "review.dropped": ("Dropped", "버림"),
    "review.drop_detail": ("(OK samples {ok}, NG {ng}, not stored {failed}, no picture {nopic})",
                           "(OK 표본 {ok}, 불량 {ng}, 저장 실패 {failed}, 영상 없음 {nopic})"),
    "review.viewer_note": ("You are a viewer: you may look, but only an engineer may label.",
                           "조회자는 볼 수만 있으며 라벨은 엔지니어만 붙일 수 있습니다."),
    "review.empty": ("No part is waiting for review.", "검토를 기다리는 부품이 없습니다."),
    "review.keys": ("Keys: 1 or Enter = right · 2 = should be OK · 3 then a number = should be NG with "
                    "that defect · ← = undo the last label · s = skip · Esc = cancel",
                    "키: 1 또는 Enter = 판정 맞음 · 2 = 양품이어야 함 · 3 다음 번호 = 그 불량이어야 함 · "
                    "← = 마지막 라벨 취소 · s = 건너뛰기 · Esc = 취소"),
    "review.verdict": ("Verdict", "판정"),
    "review.shot": ("Shot", "샷"),
    "review.part": ("Part", "부품"),
    "review.model": ("Model", "모델"),
    "review.collect": ("Collect parts for a new mold", "새 금형용 부품 수집"),
    "review.collect_what": ("File as", "분류"),
    "review.collect_count": ("Next parts", "다음 부품 수"),
    "review.collect_cavities": ("Cavities (empty = all)", "캐비티 (비우면 전체)"),
    "review.collect_start": ("Start collecting", "수집 시작"),
    "review.collect_stop": ("Stop", "중지"),
    "review.collect_good": ("Good parts", "양품"),
    "review.collect_defect": ("This defect: {label}", "이 불량: {label}"),
    "review.collect_on": ("Collecting {label}: {filed} of {count} (started by {who})",
                          "{label} 수집 중: {count}개 중 {filed}개 ({who} 시작)"),
    "review.collect_done": ("Collected {label}: {filed} of {count} (started by {who})",
                            "{label} 수집 끝: {count}개 중 {filed}개 ({who} 시작)"),
    "review.err.malformed": ("the request is not readable", "요청을 읽을 수 없습니다"),
    "review.err.unknown_item": ("this part is no longer in the review queue",
                                "이 부품은 더 이상 검토 대기열에 없습니다"),
    "review.err.unknown_answer": ("unknown answer", "알 수 없는 답"),
    "review.err.unknown_class": ("not a class of the model", "모델의 분류가 아닙니다"),
    "review.err.no_class": ("A no-decision part has no verdict to be right about: press 2 or 3.",
                            "판정 불가 부품은 맞다고 할 판정이 없습니다. 2 또는 3을 누르십시오."),
    "review.err.not_labelled": ("this part has no label to undo", "이 부품에는 취소할 라벨이 없습니다"),
    "review.err.bad_count": ("collect at least one part", "적어도 한 개는 수집해야 합니다"),
    # model registry (edge/console/models.py)
    "nav.models": ("Models", "모델 관리"),
    "models.no_registry": ("This station has no model registry: add 'registry: {path: var/registry}' to "
                           "station.yaml.", "이 스테이션에는 모델 저장소가 없습니다. station.yaml에 "
                           "'registry: {path: var/registry}'를 추가하십시오."),
    "models.judging": ("Judging now:", "현재 판정 모델:"),
    "models.viewer_note": ("Only an engineer may promote or roll back a model.",
                           "모델 적용과 되돌리기는 엔지니어만 할 수 있습니다."),
    "models.versions": ("Model versions", "모델 버전"),
    "models.version": ("Version", "버전"),
    "models.name": ("Name", "이름"),
    "models.created": ("Created", "생성 시각"),
    "models.sha256": ("SHA-256", "SHA-256"),
    "models.signed": ("Signed", "서명"),
    "models.validation": ("Validation", "검증 결과"),
    "models.state": ("State", "상태"),
    "models.active": ("active", "사용 중"),
    "models.candidate": ("candidate", "후보"),
    "models.promote": ("Promote", "적용"),
    "models.make_candidate": ("Make candidate", "후보로 지정"),
    "models.rollback": ("Roll back to the previous model", "이전 모델로 되돌리기"),
    "models.history": ("History", "이력"),
    "models.when": ("When", "시각"),
    "models.who": ("Who", "작업자"),
    "models.action": ("Action", "작업"),
    "models.action.added": ("added", "추가"),
    "models.action.candidate": ("made candidate", "후보 지정"),
    "models.action.promoted": ("promoted", "적용"),
    "models.action.rolled_back": ("rolled back", "되돌림"),
    "models.working": ("Loading and checking the model…", "모델을 불러와 확인하는 중…"),
    "models.err.no_registry": ("Refused: this station has no model registry.",
                               "거부됨: 이 스테이션에는 모델 저장소가 없습니다."),
    "models.err.no_version": ("Refused: say which version.", "거부됨: 버전을 지정하십시오."),
    "models.err.refused": ("Refused: {why}", "거부됨: {why}"),
}

CATALOGUE: dict[Lang, dict[str, str]] = {
    "en": {key: en for key, (en, _) in _TEXTS.items()},
    "ko": {key: ko for key, (_, ko) in _TEXTS.items()},
}


def language_of(cookie: str | None, accept_language: str | None) -> Lang:
    if cookie in CATALOGUE:
        return cookie  # type: ignore[return-value]
    return "ko" if (accept_language or "").lower().startswith("ko") else "en"


class Translator:
    def __init__(self, lang: Lang) -> None:
        self.lang = lang
        self.catalogue = CATALOGUE[lang]

    def t(self, key: str, **values: object) -> str:
        """The text of `key` in this language; a missing key shows as itself (a test forbids that)."""
        text = self.catalogue.get(key, key)
        return text.format(**values) if values else text
