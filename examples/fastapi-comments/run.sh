#!/usr/bin/env bash
# Runs the comments example: the ws-bridge local gateway (authentication and API token on, with
# fresh development secrets) and the FastAPI app that shares those secrets. Ctrl-C stops both;
# so does either of them exiting.
#
# Environment (relative paths are taken from the repository root):
#   WS_BRIDGE_GATEWAY  the local-gateway binary      (default target/debug/local-gateway)
#   WS_BRIDGE_PYTHON   a python with requirements.txt and clients/python installed
#                      (default .venv/bin/python)
#   GATEWAY_PORT       the gateway's port            (default 3001)
#   APP_PORT           the app's port                (default 8080)
#   HISTORY_CHANNELS   channels the gateway keeps history of (default post:*)
#   PRESENCE_CHANNELS  channels whose viewers the gateway tracks (default post:*)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$repo"

gateway="${WS_BRIDGE_GATEWAY:-target/debug/local-gateway}"
python="${WS_BRIDGE_PYTHON:-.venv/bin/python}"
gateway_port="${GATEWAY_PORT:-3001}"
app_port="${APP_PORT:-8080}"

die() { echo "run.sh: $*" >&2; exit 1; }

[[ -x "$gateway" ]] || die "no gateway binary at $gateway: build it (cargo build -p local-gateway) or set WS_BRIDGE_GATEWAY"
[[ -x "$python" ]] || die "no python at $python: create a virtualenv with the example's requirements, e.g.
  python3 -m venv .venv && .venv/bin/pip install -r examples/fastapi-comments/requirements.txt ./clients/python
or set WS_BRIDGE_PYTHON"
"$python" -c 'import fastapi, uvicorn, jwt, ws_bridge' 2>/dev/null \
  || die "$python lacks the example's packages: $python -m pip install -r examples/fastapi-comments/requirements.txt ./clients/python"

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in "$gateway_port" "$app_port"; do
  port_open "$port" && die "127.0.0.1:$port is already in use (is another gateway or app running?); set GATEWAY_PORT / APP_PORT"
done

# Development secrets, new on every run, known only to the two processes started here.
secret() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }
api_token="$(secret)"
jwt_secret="$(secret)"

gateway_pid=""
app_pid=""
stop() {
  trap - EXIT INT TERM
  local pid
  for pid in $app_pid $gateway_pid; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 50); do
    local alive=""
    for pid in $app_pid $gateway_pid; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [[ -z "$alive" ]] && break
    sleep 0.1
  done
  for pid in $app_pid $gateway_pid; do kill -KILL "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "run.sh: stopped"
}
trap stop EXIT
trap 'exit 130' INT TERM

wait_for_port() { # port pid name
  for _ in $(seq 150); do
    port_open "$1" && return 0
    kill -0 "$2" 2>/dev/null || die "$3 exited before listening on 127.0.0.1:$1"
    sleep 0.1
  done
  die "$3 did not listen on 127.0.0.1:$1 within 15 s"
}

# API_TOKEN is the --api-token flag's environment form (kept out of the process list).
# HISTORY_CHANNELS: the gateway keeps each post's recent comments, so a page that reconnects
# gets what it missed, in order (override with HISTORY_CHANNELS=... ./run.sh). PRESENCE_CHANNELS:
# the gateway tracks who views each post, shown on the page.
API_TOKEN="$api_token" JWT_SECRET="$jwt_secret" HISTORY_CHANNELS="${HISTORY_CHANNELS-post:*}" \
  PRESENCE_CHANNELS="${PRESENCE_CHANNELS-post:*}" "$gateway" --port "$gateway_port" &
gateway_pid=$!
wait_for_port "$gateway_port" "$gateway_pid" "the gateway ($gateway)"

WS_BRIDGE_HTTP_URL="http://127.0.0.1:$gateway_port/dev" \
WS_BRIDGE_WS_URL="ws://127.0.0.1:$gateway_port/dev" \
WS_BRIDGE_TOKEN="$api_token" \
WS_BRIDGE_JWT_SECRET="$jwt_secret" \
  "$python" -m uvicorn main:app --app-dir "$here" --host 127.0.0.1 --port "$app_port" &
app_pid=$!
wait_for_port "$app_port" "$app_pid" "the app (uvicorn)"

cat <<MSG

  ws-bridge comments example is running:
    gateway  ws://127.0.0.1:$gateway_port/dev  (JWT auth and API token on, history and presence of post:*)
    app      http://127.0.0.1:$app_port

  Open http://127.0.0.1:$app_port/posts/42 in two browser windows and add a comment in one:
  it appears in both. http://127.0.0.1:$app_port/posts/7 never sees post 42's comments.
  Ctrl-C stops both.

MSG

# Until Ctrl-C, or until either process exits.
status=0
wait -n "$gateway_pid" "$app_pid" || status=$?
for pid in $gateway_pid $app_pid; do
  kill -0 "$pid" 2>/dev/null || echo "run.sh: $([[ $pid == "$gateway_pid" ]] && echo gateway || echo app) exited; stopping" >&2
done
exit "$status"
