"""station.yaml: one strict pydantic model per section.

Unknown keys are refused (a typo must fail loudly, not silently turn a feature off). Every section but
`station`, `source` and `model` is optional: an absent section turns that feature off. Relative paths
are resolved against the folder of the config file, so a station folder can be moved as a whole.
"""

from __future__ import annotations

import difflib
import ipaddress
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from edge.errors import ConfigError


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _resolve(path: str | None, info: ValidationInfo) -> str | None:
    """Make a relative path absolute against the config file's folder (if loading from a file)."""
    if path is None:
        return None
    base_dir = (info.context or {}).get("base_dir")
    p = Path(path).expanduser()
    if base_dir is not None and not p.is_absolute():
        p = Path(base_dir) / p
    return str(p)


def _required_path(path: str, info: ValidationInfo) -> str:
    """A path setting that always has a value (a default), resolved like every path."""
    resolved = _resolve(path, info)
    assert resolved is not None
    return resolved


def _existing_file(path: str | None, info: ValidationInfo, what: str = "file") -> str | None:
    """An optional file setting: resolved like every path, and it must exist when it is given."""
    resolved = _resolve(path, info)
    if resolved is not None and not Path(resolved).is_file():
        raise ValueError(f"{what} not found: {resolved}")
    return resolved


class StationSection(Section):
    site: str = Field(min_length=1, description="plant or site name, first level of the MQTT topic root")
    line: str = Field(min_length=1, description="production line")
    name: str = Field(min_length=1, description="station (press) name")


class SourceSection(Section):
    kind: Literal["camera", "rtsp", "file", "folder", "sim", "genicam"]
    uri: str = Field(description="camera index, stream URL, video file, image folder or sim seed")
    mode: Literal["triggered", "free-run", "replay"] = "triggered"
    timeline: str | None = Field(default=None, description="footage timeline JSON (file source)")
    reconnect_max_s: float = Field(default=10.0, gt=0, description="longest wait between reconnects")

    @field_validator("timeline")
    @classmethod
    def _timeline_exists(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _existing_file(value, info)


class CavitySection(Section):
    id: int = Field(ge=1, le=16, description="cavity number as engraved on the mold, 1-based")
    roi: tuple[int, int, int, int] = Field(description="[x, y, width, height] in frame pixels")

    @field_validator("roi")
    @classmethod
    def _positive_size(cls, roi: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        x, y, w, h = roi
        if x < 0 or y < 0 or w <= 0 or h <= 0:
            raise ValueError(f"roi must be [x>=0, y>=0, width>0, height>0], got {list(roi)}")
        return roi


Provider = Literal["tensorrt", "cuda", "openvino", "cpu"]


def _thresholds_in_range(value: dict[str, float]) -> dict[str, float]:
    for defect, threshold in value.items():
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold for {defect!r} must be between 0 and 1, got {threshold}")
    return value


# Per-defect threshold overrides (model section and recipes); the defect names are checked against the
# model card when the Judge is built (edge/pipeline/judge.py), since the card is not known here.
DefectThresholds = Annotated[dict[str, float], AfterValidator(_thresholds_in_range)]
Threshold = Annotated[float, Field(ge=0.0, le=1.0)]
MAX_RECIPE_ID = 65535  # HR 4 is one 16-bit register


class ModelSection(Section):
    path: str = Field(description="ONNX model file; its card must sit inside it or beside it")
    providers: list[Provider] = Field(default_factory=lambda: ["cpu"], min_length=1)
    threshold: Threshold | None = Field(default=None, description="override the card's")
    thresholds: DefectThresholds = Field(default_factory=dict, description="per-defect overrides")
    threads: int = Field(default=0, ge=0, description="onnxruntime intra-op threads, 0 = all cores")
    engine_cache_dir: str | None = Field(default=None, description="TensorRT engine cache folder")

    @field_validator("path")
    @classmethod
    def _model_exists(cls, value: str, info: ValidationInfo) -> str:
        path = _existing_file(value, info, "model file")
        assert path is not None
        return path


class RecipeSection(Section):
    """What the PLC selects with RECIPE_ID: a model (optional; default the model section's file, run
    with the model section's providers and threads) and a threshold set that replaces model.threshold /
    model.thresholds (it does not stack on them), resolved over that model's card the same way."""

    model: str | None = Field(default=None, description="ONNX model file; null = model.path")
    threshold: Threshold | None = Field(default=None, description="all defects; null = the card's")
    thresholds: DefectThresholds = Field(default_factory=dict, description="per-defect overrides")

    @field_validator("model")
    @classmethod
    def _model_exists(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _existing_file(value, info, "model file")


class ShadowSection(Section):
    """Shadow mode (edge/pipeline/shadow.py): a candidate model judges the live parts too, on a
    low-priority thread, and the console shows how often it agrees with the active model and the labels."""

    model: str | None = Field(default=None, description="candidate ONNX model judged from the start; "
                                                         "null = started from the console")
    window_parts: int = Field(default=200, ge=1, le=100_000, description="agreement over the last N parts")
    queue_size: int = Field(default=4, ge=1, le=1000, description="batches waiting; beyond, oldest dropped")

    @field_validator("model")
    @classmethod
    def _model_exists(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _existing_file(value, info, "shadow model file")


class PlcSection(Section):
    protocol: Literal["modbus-rtu", "modbus-tcp", "ascii", "none"] = "modbus-rtu"
    port: str | None = Field(default=None, description="serial device, e.g. /dev/ttyUSB0")
    baudrate: int = Field(default=115200, gt=0)
    unit_id: int = Field(default=1, ge=1, le=247, description="Modbus RTU slave id")
    host: str = Field(default="127.0.0.1",
                      description="Modbus TCP listen address; 0.0.0.0 = every interface, by choice only")
    tcp_port: int = Field(default=502, ge=1, le=65535)
    allowed_clients: list[str] = Field(
        default_factory=lambda: ["127.0.0.1"], min_length=1,
        description="Modbus TCP: PLC addresses or networks (CIDR) allowed to connect; others are refused")
    max_connections: int = Field(default=4, ge=1, le=64, description="Modbus TCP: beyond, longest idle goes")
    idle_timeout_s: float = Field(default=60.0, gt=0, description="Modbus TCP: silent connections closed")
    keepalive_s: int = Field(default=10, ge=1, le=3600, description="Modbus TCP keepalive probe interval")
    heartbeat_s: float = Field(default=1.0, gt=0, description="PLC heartbeat period; 3 missed = link fault")
    result_fifo: int = Field(default=16, ge=1, le=1000, description="results waiting for the PLC's ACK")


    @field_validator("allowed_clients")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network (e.g. 192.168.0.10 or "
                                 "192.168.0.0/24)") from None
        return value


class TlsSection(Section):
    ca: str | None = None
    cert: str | None = None
    key: str | None = None

    @field_validator("ca", "cert", "key")
    @classmethod
    def _file_exists(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _existing_file(value, info)


class MqttSection(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    topic_root: str | None = Field(default=None, description="default: site/line/station")
    outbox: str = Field(default="var/outbox.sqlite", description="durable SQLite outbox")
    username_env: str | None = Field(default=None, description="name of the env variable, not the value")
    password_env: str | None = Field(default=None, description="name of the env variable, not the value")
    tls: TlsSection | None = None
    client_id: str | None = Field(default=None, description="default: moldpilot-<site>-<line>-<station>")
    protocol: Literal["auto", "5", "3.1.1"] = Field(default="auto", description="auto: MQTT 5, else 3.1.1")
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    max_inflight: int = Field(default=100, ge=1, le=1000, description="unacknowledged QoS 1 messages")
    result_expiry_s: int | None = Field(default=86400, ge=1, description="MQTT 5 expiry of results/alerts")
    status_interval_s: float = Field(default=10.0, gt=0, description="retained status refresh")
    outbox_max_messages: int = Field(default=100_000, ge=100, description="beyond: oldest dropped, alerted")
    outbox_max_age_s: float = Field(default=7 * 86400, gt=0, description="older: dropped, alerted")

    @field_validator("outbox")
    @classmethod
    def _outbox_path(cls, value: str, info: ValidationInfo) -> str:
        return _required_path(value, info)


class StorageSection(Section):
    ng_dir: str = "var/ng"
    quota_mb: float = Field(default=2048, gt=0)
    min_free_mb: float = Field(default=200, ge=0, description="kept free by the NG store, JSONL and outbox")
    warn_free_mb: float = Field(default=1024, ge=0, description="DISK_LOW alert below this much free")

    @field_validator("ng_dir")
    @classmethod
    def _ng_dir(cls, value: str, info: ValidationInfo) -> str:
        return _required_path(value, info)

    @model_validator(mode="after")
    def _warn_before_full(self) -> StorageSection:
        if self.warn_free_mb < self.min_free_mb:
            raise ValueError(f"warn_free_mb ({self.warn_free_mb:g}) must be at least min_free_mb "
                             f"({self.min_free_mb:g}): the alert must come before writes stop")
        return self


class CavityNgRateSection(Section):
    window: int = Field(default=200, ge=10, description="shots in the sliding window")
    threshold: float = Field(default=0.05, gt=0.0, le=1.0, description="NG rate that raises the alert")
    baseline_factor: float | None = Field(
        default=None, gt=1.0, description="also alert at this multiple of the cavity's own long-run NG rate"
    )


class AlertsSection(Section):
    language: Literal["en", "ko"] = "en"
    ng_streak: int | None = Field(default=3, ge=2)
    cavity_ng_rate: CavityNgRateSection | None = None
    clear_after_parts: int = Field(default=20, ge=1, description="decided parts that end an error alert")
    update_interval_s: float = Field(default=60.0, ge=0, description="min. seconds between updates")
    max_new_per_hour: int = Field(default=60, ge=1, description="new alerts beyond this are muted, counted")


HealthCondition = Literal["camera_moved", "blocked", "blurred", "lighting", "score_drift", "mold_changed"]


class HealthSection(Section):
    """The health watch (edge/health): camera and model checked against the commissioning reference
    taken with `moldpilot health reference`. Its bounds have defaults nobody needs to touch."""

    reference: str = Field(default="var/health", description="folder of the reference (reference.json, ...)")
    fail_safe: list[HealthCondition] = Field(
        default_factory=list,
        description="conditions under which parts are sent NO_DECISION (error 9 HEALTH_FAULT), not judged")
    sample_s: float = Field(default=1.0, gt=0, description="one frame at most this often to the checks")

    @field_validator("reference")
    @classmethod
    def _reference_path(cls, value: str, info: ValidationInfo) -> str:
        return _required_path(value, info)


class MetricsSection(Section):
    port: int = Field(default=9108, ge=1, le=65535)
    host: str = "127.0.0.1"


class ConsoleUserSection(Section):
    role: Literal["viewer", "engineer"] = Field(description="viewer sees everything; engineer may also "
                                                            "change ROIs")
    password_hash: str = Field(pattern=r"^\$argon2", description="argon2 hash: moldpilot console passwd")


class ConsoleTlsSection(Section):
    cert: str = Field(description="PEM certificate file")
    key: str = Field(description="PEM private key file")

    @field_validator("cert", "key")
    @classmethod
    def _file_exists(cls, value: str, info: ValidationInfo) -> str:
        path = _existing_file(value, info)
        assert path is not None
        return path


class ConsoleSection(Section):
    """The station console (edge/console): a local web app. Loopback needs no login; any other address
    needs users (a plant network is not a trusted place)."""

    host: str = Field(default="127.0.0.1", description="listen address; not loopback: users required")
    port: int = Field(default=8080, ge=0, le=65535, description="0 = any free port (tests)")
    users: dict[str, ConsoleUserSection] = Field(default_factory=dict)
    tls: ConsoleTlsSection | None = None
    session_secret_env: str | None = Field(
        default=None, description="env variable holding the cookie-signing secret; unset: a new one per "
                                  "start (everyone logs in again after a restart)")
    session_max_age_s: float = Field(default=12 * 3600, gt=0, description="a login lasts this long")
    shift_h: float = Field(default=8.0, gt=0, le=24, description="length of a shift for the NG-rate chart")

    @model_validator(mode="after")
    def _login_off_loopback(self) -> ConsoleSection:
        if not self.users and not is_loopback(self.host):
            raise ValueError(
                f"console.host {self.host!r} is reachable from the network but console.users is empty; "
                "add users (moldpilot console passwd) or bind 127.0.0.1")
        return self


class ReviewSection(Section):
    """The review queue and labels (edge/teach): NG and NO_DECISION parts plus a random share of OK parts
    kept with their crop and heatmap for a person to label; labels go into `dataset` in the trainer's
    layout (<class>/<file>.png + labels.csv), which `moldpilot train DATASET` reads as it is."""

    folder: str = Field(default="var/review", description="the queue: crop, overlay and record per part")
    dataset: str = Field(default="var/dataset", description="labelled crops, one folder per class")
    ok_sample: float = Field(default=0.05, ge=0.0, le=1.0,
                             description="share of OK parts kept for review (escapes hide among them)")
    max_parts: int = Field(default=2000, ge=10, description="parts kept in the queue; the oldest "
                                                            "unlabelled OK samples give way first")

    @field_validator("folder", "dataset")
    @classmethod
    def _paths(cls, value: str, info: ValidationInfo) -> str:
        return _required_path(value, info)


class TeachSection(Section):
    """The console's teach page (edge/teach): trains on the review dataset, adds the result to the
    registry as the candidate and validates it beside the active model. Needs `review:` and `registry:`."""

    work_dir: str = Field(default="var/teach", description="training jobs and validation outputs")
    holdout: str | None = Field(default=None, description="labelled folder kept apart for validation")
    footage: list[str] = Field(default_factory=list, description="recordings to validate on (replay)")

    @field_validator("work_dir")
    @classmethod
    def _work_dir(cls, value: str, info: ValidationInfo) -> str:
        return _required_path(value, info)

    @field_validator("holdout")
    @classmethod
    def _holdout(cls, value: str | None, info: ValidationInfo) -> str | None:
        resolved = _resolve(value, info)
        if resolved is not None and not Path(resolved).is_dir():
            raise ValueError(f"hold-out folder not found: {resolved}")
        return resolved

    @field_validator("footage")
    @classmethod
    def _footage(cls, value: list[str], info: ValidationInfo) -> list[str]:
        return [f for f in (_existing_file(v, info, "recording") for v in value) if f is not None]


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost: only this PC can reach the address."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class RegistrySection(Section):
    """The station's model registry (edge/registry): the model that judges is its active version."""

    path: str = Field(default="var/registry", description="folder of the model versions and history")
    trusted_keys: list[Path] = Field(
        default_factory=list, description="ed25519 public keys (plant.pub); set: only signed models")

    @field_validator("path")
    @classmethod
    def _registry_path(cls, value: str, info: ValidationInfo) -> str:
        return _required_path(value, info)

    @field_validator("trusted_keys")
    @classmethod
    def _keys_exist(cls, value: list[Path], info: ValidationInfo) -> list[Path]:
        return [Path(_existing_file(str(p), info, "trusted key") or p) for p in value]


class StationConfig(Section):
    station: StationSection
    source: SourceSection
    model: ModelSection
    cavities: list[CavitySection] | None = None
    deadline_ms: float = Field(default=500, gt=0, description="trigger to verdict; late = NO_DECISION")
    plc: PlcSection | None = None
    mqtt: MqttSection | None = None
    storage: StorageSection | None = None
    alerts: AlertsSection | None = None
    metrics: MetricsSection | None = None
    health: HealthSection | None = None
    console: ConsoleSection | None = None
    shadow: ShadowSection | None = None
    review: ReviewSection | None = None
    teach: TeachSection | None = None
    registry: RegistrySection | None = None
    recipes: dict[int, RecipeSection] | None = Field(
        default=None, description="model and threshold sets by the RECIPE_ID the PLC writes to HR 4"
    )

    # The file this was loaded from (`load_config`), so the console can write a new layout back to it;
    # None for settings built in code (replay's, tests'). Not a key of station.yaml.
    _source_path: Path | None = PrivateAttr(default=None)

    @property
    def source_path(self) -> Path | None:
        return self._source_path

    @model_validator(mode="after")
    def _teach_needs_review_and_registry(self) -> StationConfig:
        missing = [name for name in ("review", "registry") if getattr(self, name) is None]
        if self.teach is not None and missing:
            raise ValueError(f"teach: needs a {' and a '.join(f'{m}: section' for m in missing)} (it trains "
                             "on the review dataset and adds the model to the registry)")
        return self

    @field_validator("recipes")
    @classmethod
    def _recipe_ids(cls, value: dict[int, RecipeSection] | None) -> dict[int, RecipeSection] | None:
        # 0 is what a PLC writes when it knows nothing of recipes, so it always means the model
        # section; letting `recipes:` redefine it would make two places for the same set.
        bad = sorted(i for i in value or {} if not 1 <= i <= MAX_RECIPE_ID)
        if bad:
            raise ValueError(
                f"recipe ids must be 1..{MAX_RECIPE_ID} (the PLC's RECIPE_ID, HR 4), got {bad}; "
                "RECIPE_ID 0 always uses the model section's model and thresholds"
            )
        return value

    @field_validator("cavities")
    @classmethod
    def _unique_cavity_ids(cls, value: list[CavitySection] | None) -> list[CavitySection] | None:
        if value is not None:
            ids = [c.id for c in value]
            duplicates = sorted({i for i in ids if ids.count(i) > 1})
            if duplicates:
                raise ValueError(f"cavity ids must be unique, repeated: {duplicates}")
        return value

    @property
    def topic_root(self) -> str:
        if self.mqtt is not None and self.mqtt.topic_root:
            return self.mqtt.topic_root.strip("/")
        return f"{self.station.site}/{self.station.line}/{self.station.name}"


def load_config(path: str | Path) -> StationConfig:
    """Read and validate station.yaml; any problem becomes one `ConfigError` line per mistake."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found; copy station.example.yaml and edit it") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(_yaml_message(path, exc)) from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: expected a mapping of sections (station:, source:, model:, ...), "
            f"got {type(data).__name__}"
        )
    try:
        config = StationConfig.model_validate(data, context={"base_dir": path.resolve().parent})
    except ValidationError as exc:
        raise ConfigError("\n".join(_error_line(path, err) for err in exc.errors())) from None
    config._source_path = path.resolve()
    return config


def _yaml_message(path: Path, exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if mark is None:
        return f"{path}: malformed YAML: {problem}"
    return (
        f"{path}:{mark.line + 1}:{mark.column + 1}: malformed YAML: {problem}; "
        "check the indentation and the ':' after each key"
    )


def _error_line(path: Path, err: Any) -> str:
    loc = [str(part) for part in err["loc"]]
    key = ".".join(loc) or "(top level)"
    if err["type"] == "extra_forbidden":
        allowed = _allowed_keys(err["loc"][:-1])
        hint = difflib.get_close_matches(loc[-1], allowed, n=1)
        did_you_mean = f"; did you mean '{hint[0]}'?" if hint else ""
        return f"{path}: unknown key '{key}'{did_you_mean} (allowed here: {', '.join(allowed)})"
    if err["type"] == "missing":
        return f"{path}: missing required key '{key}'"
    message = err["msg"].removeprefix("Value error, ")
    if isinstance(err["input"], dict):  # a whole section (console: holds password hashes): not echoed
        return f"{path}: section '{key}': {message}"
    return f"{path}: key '{key}' = {err['input']!r}: {message}"


def _allowed_keys(parent_loc: tuple[Any, ...]) -> list[str]:
    """Field names of the section a key path points into, for the 'unknown key' message."""
    model: Any = StationConfig
    for part in parent_loc:
        if part not in model.model_fields:  # a list index, or a recipe id
            continue
        annotation = model.model_fields[part].annotation
        model = _section_type(annotation)
    return list(model.model_fields)


def _section_type(annotation: Any) -> Any:
    """Dig the Section class out of `X | None` or `list[X] | None`."""
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _section_type(arg)
        if found is not None:
            return found
    if isinstance(annotation, type) and issubclass(annotation, Section):
        return annotation
    return None
