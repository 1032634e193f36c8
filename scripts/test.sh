#!/usr/bin/env bash
# The one test command (`make test`, run by .ci/run): bootstrap the venv, make sure PostgreSQL and Redis run,
# then every check. Each failing check fails the run; all checks run so one report shows every problem.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*"; }
as_root() { [[ $(id -u) -eq 0 ]]; }

log "bootstrap"
bash scripts/bootstrap.sh
BIN=.venv/bin

# One statement as the postgres superuser (from / so psql need not read our directory).
pg_sql() { (cd / && runuser -u postgres -- psql -v ON_ERROR_STOP=1 -qtAX -c "$1"); }

ensure_postgres() {
    if ! command -v pg_lsclusters >/dev/null; then
        echo "pg_lsclusters not found: expecting PostgreSQL at GEKO_TEST_DATABASE_URL"
        return 0
    fi
    if pg_lsclusters --no-header 2>/dev/null | awk '$1 == "15" && $2 == "main" {print $4}' | grep -q down; then
        echo "starting PostgreSQL 15/main"
        pg_ctlcluster --skip-systemctl-redirect 15 main start
    fi
    for _ in $(seq 1 60); do
        pg_isready -q -h 127.0.0.1 -p 5432 && break
        sleep 0.5
    done
    pg_isready -h 127.0.0.1 -p 5432
    if as_root; then
        if [[ -z "$(pg_sql "SELECT 1 FROM pg_roles WHERE rolname = 'geko'")" ]]; then
            echo "creating role geko"
            pg_sql "CREATE ROLE geko LOGIN SUPERUSER PASSWORD 'geko'"
        fi
        if [[ -z "$(pg_sql "SELECT 1 FROM pg_database WHERE datname = 'geko_test'")" ]]; then
            echo "creating database geko_test"
            pg_sql "CREATE DATABASE geko_test OWNER geko"
        fi
    fi
}

ensure_redis() {
    if command -v redis-cli >/dev/null && redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then
        echo "Redis answers on 127.0.0.1:6379"
        return 0
    fi
    if ! command -v redis-server >/dev/null; then
        as_root || { echo "Redis is absent and installing it needs root" >&2; return 1; }
        echo "installing redis-server"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
        # The package may start its own instance; the ping below then finds it.
        redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG && return 0
    fi
    echo "starting redis-server"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' >/dev/null
    for _ in $(seq 1 40); do
        redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG && return 0
        sleep 0.25
    done
    echo "Redis did not start" >&2
    return 1
}

log "PostgreSQL"
ensure_postgres
log "Redis"
ensure_redis

failed=()
check() {
    local name=$1
    shift
    log "$name"
    if "$@"; then
        return 0
    fi
    failed+=("$name")
}

pytest_run() {
    local rc=0
    "$BIN/pytest" "$@" || rc=$?
    if [[ $rc -eq 5 ]]; then
        echo "pytest collected no tests" >&2
    fi
    return "$rc"
}

check "stubs fresh" "$BIN/python" scripts/gen_proto.py --check
check "GraphQL SDL fresh" "$BIN/python" scripts/export_schema.py --check
check "buf lint" "$BIN/buf" lint
check "ruff check" "$BIN/ruff" check .
check "ruff format" "$BIN/ruff" format --check .
check "import contracts" "$BIN/lint-imports"
check "mypy" "$BIN/mypy" services graphql_gateway db scripts
check "pytest" pytest_run "$@"

if [[ ${#failed[@]} -gt 0 ]]; then
    printf '\nFAILED: %s\n' "$(IFS=,; echo "${failed[*]}")" >&2
    exit 1
fi
printf '\nall checks passed\n'
