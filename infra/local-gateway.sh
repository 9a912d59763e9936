#!/usr/bin/env bash
# Starts the local gateway exactly as `make run` does (the arguments of infra/run.args:
# template.yaml, its functions in this process, stage `dev`, the local API token), then any
# further flags given here. A flag given wins over the template's value for the same setting.
#
#   infra/local-gateway.sh [FLAGS...]
#   LOCAL_GATEWAY_BIN  the binary (default: target/debug/local-gateway under the repository)
#
# It execs the gateway, so its PID is the gateway's: stop it with `kill <pid>`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${LOCAL_GATEWAY_BIN:-$root/target/debug/local-gateway}"
[[ -x "$bin" ]] || { echo "local-gateway.sh: no gateway binary at $bin: build it (cargo build -p local-gateway) or set LOCAL_GATEWAY_BIN" >&2; exit 1; }
args=()
while IFS= read -r line; do
  [[ -z "$line" || "$line" == \#* ]] && continue
  # The template's path is the repository's, wherever this is started from.
  [[ "$line" == template.yaml ]] && line="$root/template.yaml"
  args+=("$line")
done < "$root/infra/run.args"
exec "$bin" "${args[@]}" "$@"
