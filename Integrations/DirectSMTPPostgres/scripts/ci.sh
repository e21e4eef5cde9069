#!/usr/bin/env bash
# CI for DirectSMTPPostgres: build, then run the tests against a throwaway PostgreSQL server
# (scripts/with-postgres.sh starts it and stops it whatever happens). Installs PostgreSQL
# when the machine has none. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    else
        echo "ci.sh: PostgreSQL is not installed (apt-get install postgresql)" >&2
        exit 69
    fi
fi

swift build --build-tests
# Everything but the restart tests, in parallel; then the restart tests alone (a restart cuts
# every connection of whatever else runs).
scripts/with-postgres.sh swift test --skip-build
DIRECTSMTP_POSTGRES_RESTART_TESTS=1 scripts/with-postgres.sh swift test --skip-build --filter PostgresRestartTests
