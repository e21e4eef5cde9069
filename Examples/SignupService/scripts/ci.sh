#!/usr/bin/env bash
# CI for Examples/SignupService: installs what it needs (Chromium and its WebDriver, and
# the PostgreSQL server, from Debian), builds the example, runs its Swift tests beside a
# throwaway PostgreSQL server (Integrations/DirectSMTPPostgres/scripts/with-postgres.sh:
# the storage tests run on SQLite and on PostgreSQL) and the real-browser test, and cleans
# up whatever happens. Exits non-zero on any failure. Everything it serves and sends stays
# on 127.0.0.1.
#
#   bash Examples/SignupService/scripts/ci.sh
#
# Screenshots of the browser test's result pages go to $SIGNUP_SCREENSHOTS
# (default: Examples/SignupService/.build/browser-screenshots).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
screenshots="${SIGNUP_SCREENSHOTS:-$here/.build/browser-screenshots}"
browser_pid=""

cleanup() {
    status=$?
    if [[ -n "$browser_pid" ]] && kill -0 "$browser_pid" 2>/dev/null; then
        kill -TERM "$browser_pid" 2>/dev/null || true
        wait "$browser_pid" 2>/dev/null || true
    fi
    exit "$status"
}
trap cleanup EXIT INT TERM

missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null \
    || missing+=(postgresql)
if (( ${#missing[@]} )); then
    echo "== installing ${missing[*]}"
    if [[ $(id -u) -eq 0 ]]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

echo "== building (tests included)"
swift build --build-tests

echo "== swift test (SQLite, and PostgreSQL on a throwaway server)"
bash ../../Integrations/DirectSMTPPostgres/scripts/with-postgres.sh swift test

echo "== browser test (headless Chromium against signup-demo on 127.0.0.1)"
bin="$(swift build --show-bin-path)"
python3 scripts/browser_test.py "$bin/signup-demo" "$screenshots" &
browser_pid=$!
wait "$browser_pid"
browser_pid=""
echo "== screenshots in $screenshots"
