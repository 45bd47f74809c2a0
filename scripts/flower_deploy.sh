#!/usr/bin/env bash
# Run the FIRM Flower App as a real deployment on loopback: one SuperLink plus N SuperNodes, each a
# separate process (no simulation engine), then `flwr run`, wait for the run, and judge it by
# `flwr ls --format json` (the exit code of `flwr run` says nothing about the run).
# Every process this script starts is stopped on exit (trap), whatever happened.
#
# usage: scripts/flower_deploy.sh [-n NUM_SUPERNODES] [-r ROUNDS] [-t TIMEOUT_S] [-o OUT_DIR]
#                                 [-c "extra run-config, e.g. algorithm.beta=0.5 problem.noise-std=0.1"]
#                                 [-g GPU_IDS, e.g. 0,1: SuperNode i sees only GPU i mod count]
#                                 [-b BACKEND: numpy (app/, quadratics) or rlhf (app_rlhf/, LoRA RLHF)]
# Exit status: 0 when the run's status is finished:completed, 1 otherwise, 2 on bad usage.
set -euo pipefail

NUM_NODES=4
ROUNDS=5
TIMEOUT=300
OUT_DIR=""
EXTRA_CONFIG=""
GPUS=""
BACKEND="numpy"
while getopts "n:r:t:o:c:g:b:h" opt; do
  case "$opt" in
    n) NUM_NODES="$OPTARG" ;;
    r) ROUNDS="$OPTARG" ;;
    t) TIMEOUT="$OPTARG" ;;
    o) OUT_DIR="$OPTARG" ;;
    c) EXTRA_CONFIG="$OPTARG" ;;
    g) GPUS="$OPTARG" ;;
    b) BACKEND="$OPTARG" ;;
    h) sed -n '2,11p' "$0"; exit 0 ;;
    *) sed -n '2,11p' "$0" >&2; exit 2 ;;
  esac
done
[[ "$NUM_NODES" =~ ^[1-9][0-9]*$ ]] || { echo "flower_deploy: -n must be an integer >= 1, got '$NUM_NODES'" >&2; exit 2; }
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { echo "flower_deploy: -r must be an integer >= 1, got '$ROUNDS'" >&2; exit 2; }
[[ "$TIMEOUT" =~ ^[1-9][0-9]*$ ]] || { echo "flower_deploy: -t must be an integer >= 1, got '$TIMEOUT'" >&2; exit 2; }
[[ -z "$GPUS" || "$GPUS" =~ ^[0-9]+(,[0-9]+)*$ ]] || { echo "flower_deploy: -g must be GPU ids such as 0,1, got '$GPUS'" >&2; exit 2; }
[[ "$BACKEND" == numpy || "$BACKEND" == rlhf ]] || { echo "flower_deploy: -b must be numpy or rlhf, got '$BACKEND'" >&2; exit 2; }
IFS=, read -r -a GPU_LIST <<< "$GPUS"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ "$BACKEND" == rlhf ]]; then  # the LoRA RLHF app: the task is its model.* / task.* / trainer.* keys
  APP_DIR="$ROOT/backends/flower/app_rlhf"
  CLIENTS_KEY="task.num-clients"
else
  APP_DIR="$ROOT/backends/flower/app"
  CLIENTS_KEY="problem.num-clients"
fi
BIN="${FLWR_BIN_DIR:-$ROOT/.venv/bin}"
[[ -x "$BIN/flower-superlink" ]] || BIN="$(dirname "$(command -v flower-superlink || echo /nonexistent/x)")"
[[ -x "$BIN/flower-superlink" ]] || { echo "flower_deploy: flower-superlink not found (install the [flower] extra)" >&2; exit 2; }
PY="$BIN/python"
[[ -x "$PY" ]] || PY="$(command -v python3)"
export PATH="$BIN:$PATH"
export FLWR_TELEMETRY_ENABLED=0 FLWR_DISABLE_UPDATE_CHECK=1 FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION=1

WORK="$(mktemp -d "${TMPDIR:-/tmp}/firm-deploy.XXXXXX")"
export FLWR_HOME="$WORK/flwr-home"
mkdir -p "$FLWR_HOME"
HOST=127.0.0.1  # loopback only
PIDS=()

descendants() {  # every descendant pid of $1 (depth first)
  local child
  for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
    echo "$child"
    descendants "$child"
  done
}

cleanup() {
  local status=$? pid all=()
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do  # collect the whole trees before anything dies and gets re-parented
    all+=("$pid" $(descendants "$pid"))
  done
  for pid in "${PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done  # each started in its own group
  for pid in "${all[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 50); do
    local alive=0
    for pid in "${all[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [[ $alive == 0 ]] && break
    sleep 0.2
  done
  for pid in "${all[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  echo "flower_deploy: stopped ${#all[@]} processes; logs in $WORK" >&2
  exit "$status"
}
trap cleanup EXIT INT TERM

free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

LINK_PORT="$(free_port)"
cat > "$FLWR_HOME/config.toml" <<EOF
[superlink]
default = "firm"

[superlink.firm]
address = "$HOST:$LINK_PORT"
insecure = true
EOF

setsid "$BIN/flower-superlink" --insecure --host "$HOST" --port "$LINK_PORT" --database "$WORK/state.db" \
  > "$WORK/superlink.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 300); do
  "$PY" - "$LINK_PORT" <<'EOF' && break
import sys, urllib.request
try:
    urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/health", timeout=0.5)
except OSError:
    sys.exit(1)
EOF
  kill -0 "${PIDS[0]}" 2>/dev/null || { echo "flower_deploy: SuperLink died, see $WORK/superlink.log" >&2; exit 1; }
  sleep 0.2
done
echo "flower_deploy: SuperLink on $HOST:$LINK_PORT (pid ${PIDS[0]})" >&2

for ((i = 0; i < NUM_NODES; i++)); do
  NODE_PORT="$(free_port)"
  if ((${#GPU_LIST[@]} > 0)); then  # one GPU per SuperNode: its ClientApps see only that device
    export CUDA_VISIBLE_DEVICES="${GPU_LIST[$((i % ${#GPU_LIST[@]}))]}"
    echo "flower_deploy: SuperNode $i on GPU $CUDA_VISIBLE_DEVICES" >&2
  fi
  setsid "$BIN/flower-supernode" --insecure --superlink "$HOST:$LINK_PORT" --host "$HOST" --port "$NODE_PORT" \
    --node-config "partition-id=$i num-partitions=$NUM_NODES" > "$WORK/supernode-$i.log" 2>&1 &
  PIDS+=("$!")
done
((${#GPU_LIST[@]} > 0)) && unset CUDA_VISIBLE_DEVICES
echo "flower_deploy: $NUM_NODES SuperNodes started" >&2

RUN_CONFIG="num-server-rounds=$ROUNDS $CLIENTS_KEY=$NUM_NODES"
[[ -n "$OUT_DIR" ]] && RUN_CONFIG="$RUN_CONFIG out-dir=\"$(realpath -m "$OUT_DIR")\""  # the ServerApp runs elsewhere
[[ -n "$EXTRA_CONFIG" ]] && RUN_CONFIG="$RUN_CONFIG $EXTRA_CONFIG"
START_JSON="$("$BIN/flwr" run "$APP_DIR" firm --run-config "$RUN_CONFIG" --format json)" || true
RUN_ID="$(printf '%s' "$START_JSON" | "$PY" -c 'import json, sys; d = json.load(sys.stdin); print(d["run-id"] if d.get("success") else "")' 2>/dev/null || true)"
if [[ -z "$RUN_ID" ]]; then
  echo "flower_deploy: flwr run did not start a run: $START_JSON" >&2
  exit 1
fi
echo "flower_deploy: run $RUN_ID started" >&2

DEADLINE=$((SECONDS + TIMEOUT))
STATUS="unknown"
while ((SECONDS < DEADLINE)); do
  LS_JSON="$("$BIN/flwr" ls firm --run-id "$RUN_ID" --format json 2>/dev/null || true)"
  STATUS="$(printf '%s' "$LS_JSON" | "$PY" -c 'import json, sys; r = json.load(sys.stdin).get("runs") or [{}]; print(r[0].get("status", "unknown"))' 2>/dev/null || echo unknown)"
  [[ "$STATUS" == finished:* ]] && break
  sleep 1
done
DETAILS="$(printf '%s' "$LS_JSON" | "$PY" -c 'import json, sys; r = json.load(sys.stdin).get("runs") or [{}]; print(r[0].get("status-details", ""), r[0].get("elapsed", ""))' 2>/dev/null || true)"
echo "flower_deploy: run $RUN_ID status: $STATUS ($DETAILS)"
[[ "$STATUS" == "finished:completed" ]]
