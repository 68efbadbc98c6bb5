"""`moldpilot config check FILE`: validate station.yaml without starting anything.

Besides the YAML, every model the station would load (model.path and the recipes' models) goes
through the runner's own check (card present and consistent, sha256 of the graph): a model that
`run` would refuse fails here too, before systemd starts the service (the unit's ExecStartPre).
The cavity ROIs are compared with the real frame size for file, folder and sim sources
(edge/frame_fit.py; `doctor` does it for cameras).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from edge.config import StationConfig, load_config
from edge.frame_fit import check_rois_offline


def add_parser(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser("config", help="check a station.yaml")
    sub = parser.add_subparsers(dest="config_verb", metavar="CONFIG_VERB", required=True)
    check = sub.add_parser("check", help="validate FILE and print what it turns on")
    check.add_argument("file", metavar="FILE", help="station.yaml to check")
    check.set_defaults(func=_check)


def _check(args: argparse.Namespace) -> int:
    from edge.pipeline.runner import load_checked  # onnx is heavy: only once the YAML is valid

    config = load_config(args.file)
    recipe_models = [r.model for r in (config.recipes or {}).values() if r.model]
    for path in dict.fromkeys([config.model.path, *recipe_models]):
        load_checked(Path(path))  # a tampered or card-less model: ModelError, one line, exit 2
    rois = check_rois_offline(config.source, config.cavities)  # an ROI outside the frame: ConfigError
    print(f"{args.file}: OK")
    for line in [*describe(config), *([rois] if rois else [])]:
        print(f"  {line}")
    return 0


def describe(config: StationConfig) -> list[str]:
    """What the config turns on, one line per feature, in the words of the config file."""
    station, source, model = config.station, config.source, config.model
    lines = [
        f"station   {station.site}/{station.line}/{station.name}",
        f"source    {source.kind} {source.uri} ({source.mode})",
        f"model     {model.path} on {', '.join(model.providers)}",
        f"deadline  {config.deadline_ms:g} ms",
    ]
    if config.cavities:
        lines.append("cavities  " + ", ".join(f"{c.id}:{list(c.roi)}" for c in config.cavities))
    else:
        lines.append("cavities  from the footage timeline, else one part per frame")
    plc = config.plc
    lines.append(
        f"plc       {plc.protocol} {plc.port or ''}" if plc and plc.protocol != "none" else "plc       off"
    )
    mqtt = config.mqtt
    lines.append(
        f"mqtt      {mqtt.host}:{mqtt.port}, topics {config.topic_root}/..." if mqtt else "mqtt      off"
    )
    storage = config.storage
    lines.append(
        f"ng store  {storage.ng_dir} (quota {storage.quota_mb:g} MB)" if storage else "ng store  off"
    )
    alerts = config.alerts
    lines.append(f"alerts    language {alerts.language}" if alerts else "alerts    off")
    metrics = config.metrics
    lines.append(f"metrics   http://{metrics.host}:{metrics.port}/metrics" if metrics else "metrics   off")
    recipes = sorted((config.recipes or {}).items())
    if recipes:
        own = "".join(f"; {i}: model {r.model}" for i, r in recipes if r.model)
        lines.append(f"recipes   RECIPE_ID {', '.join(str(i) for i, _ in recipes)} (0 = model section){own}")
    else:
        lines.append("recipes   off: RECIPE_ID 0 only, any other id is NO_DECISION")
    return [line.rstrip() for line in lines]
