#!/usr/bin/env bash
# Install MoldPilot as a systemd service on an edge PC or NVIDIA Jetson. Idempotent: run it again to
# upgrade the package; an existing /etc/moldpilot/station.yaml is never overwritten.
#
#   sudo deploy/install.sh                 # install from this checkout
#   deploy/install.sh --dry-run            # print the steps, change nothing
#   deploy/install.sh --dry-run --root /tmp/x   # the same, with every path under /tmp/x (tests)
#
# Jetson: install JetPack's onnxruntime-gpu wheel into the venv afterwards (deploy/JETSON.md).
set -euo pipefail

SRC_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT=""
DRY_RUN=0
SERVICE_USER="moldpilot"
PYTHON="${PYTHON:-python3}"

usage() {
  echo "usage: $0 [--dry-run] [--root DIR] [--user NAME]" >&2
  exit 2
}

while [ "$#" -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --root) [ "$#" -ge 2 ] || usage; ROOT="${2%/}"; shift ;;
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

if [ "$DRY_RUN" -eq 0 ] && [ "$(id -u)" -ne 0 ]; then
  echo "install.sh changes system folders and users: run it with sudo (or --dry-run to see the steps)" >&2
  exit 1
fi

# 1. The service user: no login, no home beyond its state folder; dialout for serial PLC links,
#    video for USB cameras.
if id -u "$SERVICE_USER" >/dev/null 2>&1; then
  echo "user $SERVICE_USER exists"
else
  run useradd --system --home-dir /var/lib/moldpilot --shell /usr/sbin/nologin "$SERVICE_USER"
fi
run usermod -a -G dialout,video "$SERVICE_USER"

# 2. The package in its own venv (not editable: the service must not run a developer's checkout).
run install -d -m 0755 "$OPT_DIR"
if [ ! -x "$OPT_DIR/venv/bin/python" ]; then
  run "$PYTHON" -m venv "$OPT_DIR/venv"
fi
run "$OPT_DIR/venv/bin/pip" install --quiet --upgrade pip
run "$OPT_DIR/venv/bin/pip" install --quiet "$SRC_DIR"

# 3. Configuration: an example to edit, never overwriting the station's own file.
run install -d -m 0755 "$ETC_DIR"
if [ -e "$ETC_DIR/station.yaml" ]; then
  echo "$ETC_DIR/station.yaml exists: kept"
else
  run install -m 0644 "$SRC_DIR/deploy/station.example.yaml" "$ETC_DIR/station.yaml"
fi

# 4. State the service writes: MQTT outbox, NG images, TensorRT engine cache.
run install -d -m 0750 "$STATE_DIR"
run chown "$SERVICE_USER:$SERVICE_USER" "$STATE_DIR"

# 5. The unit: journald logs in JSON, restart on failure, drain on SIGTERM.
run install -d -m 0755 "$UNIT_DIR"
run install -m 0644 "$SRC_DIR/deploy/moldpilot.service" "$UNIT_DIR/moldpilot.service"
if [ -z "$ROOT" ]; then
  run systemctl daemon-reload
  run systemctl enable moldpilot.service
fi

echo "next: edit $ETC_DIR/station.yaml, check it with"
echo "  $OPT_DIR/venv/bin/moldpilot config check $ETC_DIR/station.yaml"
echo "then: sudo systemctl restart moldpilot && journalctl -u moldpilot -f -o cat"
