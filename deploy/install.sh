#!/usr/bin/env bash
# Install MoldPilot as a systemd service on an edge PC or NVIDIA Jetson. Idempotent: run it again to
# upgrade the package; an existing /etc/moldpilot/station.yaml is never overwritten.
#
#   sudo deploy/install.sh                 # install from this checkout
#   deploy/install.sh --dry-run            # print the steps, change nothing
#   deploy/install.sh --dry-run --root /tmp/x   # the same, with every path under /tmp/x (tests)
#   deploy/install.sh --root /tmp/x --skip-venv # stage the files under /tmp/x (an image, a test):
#                                               # no root needed, no user, no chown, no systemctl
#
# Jetson: install JetPack's onnxruntime-gpu wheel into the venv afterwards (deploy/JETSON.md).
set -euo pipefail

SRC_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT=""
DRY_RUN=0
SKIP_VENV=0
SERVICE_USER="moldpilot"
# The shipped default model (card embedded, sidecar beside it), installed where the example config
# names it: /opt/moldpilot/models/default.onnx.
DEFAULT_MODEL="models/default/sim_parts_v3_int8"
PYTHON="${PYTHON:-python3}"

usage() {
  echo "usage: $0 [--dry-run] [--root DIR] [--skip-venv] [--user NAME]" >&2
  exit 2
}

while [ "$#" -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --root) [ "$#" -ge 2 ] || usage; ROOT="${2%/}"; shift ;;
    --skip-venv) SKIP_VENV=1 ;;
    --user) [ "$#" -ge 2 ] || usage; SERVICE_USER="$2"; shift ;;
    -h|--help) usage ;;
    *) echo "unknown option: $1" >&2; usage ;;
  esac
  shift
done

OPT_DIR="$ROOT/opt/moldpilot"
ETC_DIR="$ROOT/etc/moldpilot"
STATE_DIR="$ROOT/var/lib/moldpilot"
UNIT_DIR="$ROOT/etc/systemd/system"

# Every step goes through run: printed always, executed unless --dry-run.
run() {
  echo "+ $*"
  if [ "$DRY_RUN" -eq 0 ]; then
    "$@"
  fi
}

if [ -z "$ROOT" ] && [ "$DRY_RUN" -eq 0 ] && [ "$(id -u)" -ne 0 ]; then
  echo "install.sh changes system folders and users: run it with sudo (or --dry-run to see the steps)" >&2
  exit 1
fi

# Host-only steps (users, ownership, systemd) are left out when staging under --root.
host() {
  if [ -z "$ROOT" ]; then
    run "$@"
  else
    echo "- under --root, skipped: $*"
  fi
}

# 1. The service user: no login, no home beyond its state folder; dialout for serial PLC links,
#    video for USB cameras.
if [ -n "$ROOT" ] || ! id -u "$SERVICE_USER" >/dev/null 2>&1; then
  host useradd --system --home-dir /var/lib/moldpilot --shell /usr/sbin/nologin "$SERVICE_USER"
else
  echo "user $SERVICE_USER exists"
fi
host usermod -a -G dialout,video "$SERVICE_USER"

# 2. The package in its own venv (not editable: the service must not run a developer's checkout).
run install -d -m 0755 "$OPT_DIR"
if [ "$SKIP_VENV" -eq 1 ]; then
  echo "- --skip-venv: $OPT_DIR/venv not built"
else
  if [ ! -x "$OPT_DIR/venv/bin/python" ]; then
    run "$PYTHON" -m venv "$OPT_DIR/venv"
  fi
  run "$OPT_DIR/venv/bin/pip" install --quiet --upgrade pip
  run "$OPT_DIR/venv/bin/pip" install --quiet "$SRC_DIR"
fi

# 2b. The shipped default model, where deploy/station.example.yaml names it (upgraded with the package;
#     a station's own models live elsewhere, e.g. /var/lib/moldpilot/models).
run install -d -m 0755 "$OPT_DIR/models"
run install -m 0644 "$SRC_DIR/$DEFAULT_MODEL.onnx" "$OPT_DIR/models/default.onnx"
run install -m 0644 "$SRC_DIR/$DEFAULT_MODEL.card.json" "$OPT_DIR/models/default.card.json"

# 3. Configuration: an example to edit, never overwriting the station's own file.
run install -d -m 0755 "$ETC_DIR"
if [ -e "$ETC_DIR/station.yaml" ]; then
  echo "$ETC_DIR/station.yaml exists: kept"
else
  run install -m 0644 "$SRC_DIR/deploy/station.example.yaml" "$ETC_DIR/station.yaml"
fi

# 3b. Secrets for the unit's EnvironmentFile: names as in station.yaml's mqtt.*_env, values never in
#     station.yaml. Readable by root and the service group only; kept if it exists.
if [ -e "$ETC_DIR/moldpilot.env" ]; then
  echo "$ETC_DIR/moldpilot.env exists: kept"
else
  run install -m 0640 "$SRC_DIR/deploy/moldpilot.env.example" "$ETC_DIR/moldpilot.env"
  host chown "root:$SERVICE_USER" "$ETC_DIR/moldpilot.env"
fi

# 4. State the service writes: MQTT outbox, NG images, TensorRT engine cache.
run install -d -m 0750 "$STATE_DIR"
host chown "$SERVICE_USER:$SERVICE_USER" "$STATE_DIR"

# 5. The unit: journald logs in JSON, restart on failure, drain on SIGTERM.
run install -d -m 0755 "$UNIT_DIR"
run install -m 0644 "$SRC_DIR/deploy/moldpilot.service" "$UNIT_DIR/moldpilot.service"
host systemctl daemon-reload
host systemctl enable moldpilot.service

echo "next: edit $ETC_DIR/station.yaml (and the MQTT credentials in $ETC_DIR/moldpilot.env), check it with"
echo "  $OPT_DIR/venv/bin/moldpilot config check $ETC_DIR/station.yaml"
echo "then: sudo systemctl restart moldpilot && journalctl -u moldpilot -f -o cat"
