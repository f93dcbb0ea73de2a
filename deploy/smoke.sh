#!/usr/bin/env bash
# Prove the images and the compose file on this machine: build the application image
# (deploy/build.sh, no registry), start the compose file's Treadle services through
# deploy/compose.host.yml (host network, this machine's Postgres and Redis, a fresh
# database, the embedded vector engine, the sandbox on the private Docker engine), wait
# until every service is healthy, then drive them with the openai SDK
# (deploy/smoke_client.py): a function-call run, a file_search run and a code run; then
# check that /metrics and Flower show that work. Everything it started is torn down on
# exit, failed or not. Idempotent; prints timings.
#
#   bash deploy/smoke.sh
#
# Environment (defaults): SMOKE_REDIS_URL (redis://127.0.0.1:6379/0), SMOKE_PG
# (postgresql://postgres@127.0.0.1:5432), SMOKE_API_PORT (18080), SMOKE_FLOWER_PORT
# (15555), SMOKE_MODEL_PORT (18090).
set -euo pipefail
cd "$(dirname "$0")/.."

SOCKET=/run/treadle-docker.sock
export DOCKER_HOST=unix://$SOCKET
PG=${SMOKE_PG:-postgresql://postgres@127.0.0.1:5432}
DB=treadle_smoke_$(date +%s)_$$
API_PORT=${SMOKE_API_PORT:-18080}
FLOWER_PORT=${SMOKE_FLOWER_PORT:-15555}
MODEL_PORT=${SMOKE_MODEL_PORT:-18090}
SANDBOX_DIR=/var/lib/treadle-smoke/sandbox
SERVICES=(api worker-runs worker-ingest worker-sandbox worker-timers scheduler flower)
COMPOSE=(docker-compose -p treadle-smoke -f docker-compose.yml -f deploy/compose.host.yml)
LOGS=/var/log/treadle/smoke
STARTED=$(date +%s.%N)
LAST=$STARTED

# Phase timings: seconds since the previous mark and since the start.
mark() {
    local now
    now=$(date +%s.%N)
    printf '[smoke] %-44s %6.1f s  (total %6.1f s)\n' "$1" \
        "$(echo "$now - $LAST" | bc)" "$(echo "$now - $STARTED" | bc)"
    LAST=$now
}

install_missing() {
    local missing=()
    command -v dockerd >/dev/null || missing+=(docker.io)
    command -v docker-compose >/dev/null || missing+=(docker-compose)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    command -v bc >/dev/null || missing+=(bc)
    command -v curl >/dev/null || missing+=(curl)
    if ((${#missing[@]})); then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

# The private engine deploy/sandbox/prepare.sh uses too: started the same way by whichever
# script gets there first.
start_engine() {
    docker info >/dev/null 2>&1 && return
    mkdir -p /var/log/treadle
    nohup dockerd --bridge=none --iptables=false --ip-forward=false \
        --data-root /var/lib/treadle-docker --exec-root /run/treadle-docker \
        --pidfile /run/treadle-docker.pid -H "$DOCKER_HOST" \
        >>/var/log/treadle/dockerd.log 2>&1 &
    for _ in $(seq 1 120); do docker info >/dev/null 2>&1 && return; sleep 0.5; done
    echo "dockerd did not answer on $SOCKET" >&2
    exit 1
}

MODEL_PID=
cleanup() {
    local status=$?
    set +e
    if [ "$status" -ne 0 ]; then
        mkdir -p "$LOGS"
        rm -f "$LOGS"/*.log
        for service in "${SERVICES[@]}"; do
            [ -n "$("${COMPOSE[@]}" ps -q "$service" 2>/dev/null)" ] || continue
            "${COMPOSE[@]}" logs --no-color "$service" >"$LOGS/$service.log" 2>&1
            tail -n 30 "$LOGS/$service.log" >&2
        done
        echo "[smoke] FAILED; service logs in $LOGS" >&2
    fi
    [ -n "$MODEL_PID" ] && kill "$MODEL_PID" 2>/dev/null && wait "$MODEL_PID" 2>/dev/null
    clear_leftovers
    mark "teardown"
    exit "$status"
}

# What a smoke run leaves behind, including one that was killed before its teardown.
clear_leftovers() {
    # Killed, not stopped: nothing of theirs is kept, so a graceful stop only costs time.
    "${COMPOSE[@]}" kill >/dev/null 2>&1
    "${COMPOSE[@]}" down -v --remove-orphans >/dev/null 2>&1
    # Sandbox sessions are containers of their own, labelled with the data directory's tag.
    local scope
    scope=$(printf '%s' "$SANDBOX_DIR" | sha256sum | cut -c1-8)
    docker ps -aq --filter "label=treadle.sandbox=$scope" | xargs -r docker rm -f >/dev/null
    rm -rf "$SANDBOX_DIR"
    psql "$PG/postgres" -Atc "SELECT datname FROM pg_database WHERE datname LIKE 'treadle_smoke_%'" \
        | while read -r name; do
            psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null
        done
}

install_missing
start_engine
mark "engine up"
# The sandbox image the sandbox pool starts sessions from (prepare.sh is idempotent).
bash deploy/sandbox/prepare.sh >/dev/null
mark "sandbox image"
bash deploy/build.sh
mark "application image"

trap cleanup EXIT
clear_leftovers
mkdir -p "$SANDBOX_DIR"
.venv/bin/python -m tests.support.model_server --port "$MODEL_PORT" >/dev/null 2>&1 &
MODEL_PID=$!
psql "$PG/postgres" -qc "CREATE DATABASE $DB" >/dev/null
for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$MODEL_PORT/v1/models" >/dev/null && break
    kill -0 "$MODEL_PID" 2>/dev/null || { echo "[smoke] the model server exited" >&2; exit 1; }
    sleep 0.1
done

export TREADLE_DATABASE_URL=$PG/$DB
export TREADLE_REDIS_URL=${SMOKE_REDIS_URL:-redis://127.0.0.1:6379/0}
export TREADLE_MODEL_BASE_URL=http://127.0.0.1:$MODEL_PORT/v1
export TREADLE_HOST_API_PORT=$API_PORT TREADLE_HOST_FLOWER_PORT=$FLOWER_PORT
export TREADLE_DOCKER_SOCKET=$SOCKET TREADLE_SANDBOX_DIR=$SANDBOX_DIR
# Embeddings from the local model inside the image, as a deployment without an endpoint.
unset TREADLE_EMBEDDINGS_BASE_URL TREADLE_QDRANT_URL

"${COMPOSE[@]}" run --rm --no-deps -T migrate
KEY=$("${COMPOSE[@]}" run --rm --no-deps -T api keys create --project smoke | tail -n 1)
mark "migrate + key"
"${COMPOSE[@]}" up -d --no-deps "${SERVICES[@]}"

# Healthy means each service's own health check passed (docker-compose.yml).
deadline=$((SECONDS + 240))
for service in "${SERVICES[@]}"; do
    container=$("${COMPOSE[@]}" ps -q "$service")
    while :; do
        state=$(docker inspect -f '{{.State.Status}} {{.State.Health.Status}}' "$container")
        [ "$state" = "running healthy" ] && break
        if [ "${state%% *}" != running ] || [ "$SECONDS" -gt "$deadline" ]; then
            echo "[smoke] $service is not healthy: $state" >&2
            exit 1
        fi
        sleep 1
    done
done
mark "services healthy"

.venv/bin/python -W ignore::DeprecationWarning deploy/smoke_client.py --base-url "http://127.0.0.1:$API_PORT/v1" \
    --api-key "$KEY"
mark "SDK runs"

# The operators' view of that work: the API's /metrics counts the runs by status (a fresh
# database: exactly the three above) and Flower lists the runs pool's tasks.
curl -sf "http://127.0.0.1:$API_PORT/metrics" | grep -Eq '^treadle_runs\{status="completed"\} 3(\.0)?$' \
    || { echo "[smoke] /metrics does not show 3 completed runs" >&2; exit 1; }
curl -sf "http://127.0.0.1:$FLOWER_PORT/api/tasks?taskname=runs.execute" | grep -q '"runs.execute"' \
    || { echo "[smoke] Flower shows no runs.execute task" >&2; exit 1; }
mark "metrics and Flower"
