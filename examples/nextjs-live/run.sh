#!/usr/bin/env bash
# Runs the Next.js example: the ws-bridge local gateway as `make run` starts it (through
# infra/local-gateway.sh) with JWT authentication on, an API token and history on the channel
# `updates`; the built Next.js app (`next start`); and the FastAPI publisher. Fresh development
# secrets on every run, known only to the processes started here. Ctrl-C stops all three; so does
# any of them exiting. Build the app first (`make example-nextjs` does: npm ci, next build).
#
# Environment (relative paths are taken from the repository root):
#   WS_BRIDGE_GATEWAY  the gateway's launcher       (default infra/local-gateway.sh)
#   WS_BRIDGE_PYTHON   a python with FastAPI, uvicorn and clients/python (default .venv/bin/python)
#   GATEWAY_PORT       the gateway's port           (default 3001)
#   APP_PORT           the Next.js app's port       (default 3000)
#   PUBLISHER_PORT     the FastAPI publisher's port (default 8081)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$repo"

gateway="${WS_BRIDGE_GATEWAY:-infra/local-gateway.sh}"
python="${WS_BRIDGE_PYTHON:-.venv/bin/python}"
gateway_port="${GATEWAY_PORT:-3001}"
app_port="${APP_PORT:-3000}"
publisher_port="${PUBLISHER_PORT:-8081}"

die() { echo "run.sh: $*" >&2; exit 1; }

[[ -x "$gateway" ]] || die "no gateway launcher at $gateway; set WS_BRIDGE_GATEWAY"
[[ -x "$python" ]] || die "no python at $python (make .venv/.installed makes it); or set WS_BRIDGE_PYTHON"
[[ -d "$here/.next" ]] || die "the app is not built: make example-nextjs (or npm ci && npx next build in $here)"

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in "$gateway_port" "$app_port" "$publisher_port"; do
  port_open "$port" && die "127.0.0.1:$port is already in use; set GATEWAY_PORT / APP_PORT / PUBLISHER_PORT"
done

secret() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }
api_token="$(secret)"
jwt_secret="$(secret)"

pids=()
stop() {
  trap - EXIT INT TERM
  local pid
  [[ -n "${app_group:-}" ]] && kill -TERM -- "-$app_group" 2>/dev/null || true
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 50); do
    local alive=""
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [[ -z "$alive" ]] && break
    sleep 0.1
  done
  [[ -n "${app_group:-}" ]] && kill -KILL -- "-$app_group" 2>/dev/null || true
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "run.sh: stopped"
}
trap stop EXIT
trap 'exit 130' INT TERM

wait_for_port() { # port pid name
  for _ in $(seq 300); do
    port_open "$1" && return 0
    kill -0 "$2" 2>/dev/null || die "$3 exited before listening on 127.0.0.1:$1"
    sleep 0.1
  done
  die "$3 did not listen on 127.0.0.1:$1 within 30 s"
}

# API_TOKEN and JWT_SECRET are the --api-token and --jwt-secret flags' environment forms (kept out
# of the process list). HISTORY_CHANNELS=updates: a page that reconnects gets what it missed.
API_TOKEN="$api_token" JWT_SECRET="$jwt_secret" HISTORY_CHANNELS=updates \
  "$gateway" --host 127.0.0.1 --port "$gateway_port" &
pids+=($!)
wait_for_port "$gateway_port" "${pids[-1]}" "the gateway"

export WS_BRIDGE_HTTP_URL="http://127.0.0.1:$gateway_port/dev"
export WS_BRIDGE_WS_URL="ws://127.0.0.1:$gateway_port/dev"
export WS_BRIDGE_TOKEN="$api_token"
export NEXT_TELEMETRY_DISABLED=1

# `next start` runs the server in a child process: started in a session of its own, the whole
# group is stopped (its PID is the group's id).
WS_BRIDGE_JWT_SECRET="$jwt_secret" setsid "$here/node_modules/.bin/next" start "$here" -H 127.0.0.1 -p "$app_port" &
pids+=($!)
app_group=$!
wait_for_port "$app_port" "${pids[-1]}" "the Next.js app"

"$python" -m uvicorn fastapi_publisher:app --app-dir "$here" --host 127.0.0.1 --port "$publisher_port" &
pids+=($!)
wait_for_port "$publisher_port" "${pids[-1]}" "the FastAPI publisher"

cat <<MSG

  ws-bridge Next.js example is running:
    gateway    ws://127.0.0.1:$gateway_port/dev  (JWT auth and API token on, history of updates)
    app        http://127.0.0.1:$app_port  (next start)
    publisher  http://127.0.0.1:$publisher_port  (FastAPI)

  Open http://127.0.0.1:$app_port/ in two windows and publish from the form (a server action),
  or from outside:
    curl -s -X POST http://127.0.0.1:$app_port/api/publish -H 'content-type: application/json' -d '{"text":"from the route handler"}'
    curl -s -X POST http://127.0.0.1:$publisher_port/updates -H 'content-type: application/json' -d '{"text":"from FastAPI"}'
  Ctrl-C stops all three.

MSG

status=0
wait -n "${pids[@]}" || status=$?
echo "run.sh: a process exited; stopping" >&2
exit "$status"
