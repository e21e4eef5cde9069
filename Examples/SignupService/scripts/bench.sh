#!/usr/bin/env bash
# The sign-up endpoint under load: signup-demo (release build; mock DNS and SMTP servers in
# the same process, on loopback) and wrk with 100 connections for a short, bounded run.
# Each request validates, stores the sign-up in SQLite (WAL, synchronous=FULL) and sends
# the code to the mock SMTP server. Loopback only.
#
#   bash scripts/bench.sh [SECONDS]     (default 10; needs `apt-get install wrk`)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
seconds="${1:-10}"
swift build -c release --product signup-demo >/dev/null
bin="$(swift build -c release --show-bin-path)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
work="$(mktemp -d)"
SIGNUP_PORT="$port" SIGNUP_DATABASE="$work/signups.sqlite" SIGNUP_QUEUE_JOURNAL="$work/mail.journal" \
    LOG_LEVEL=warning "$bin/signup-demo" >"$work/demo.log" 2>&1 &
demo=$!
trap 'kill -TERM $demo 2>/dev/null; wait $demo 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
    sleep 0.1
done
wrk -t2 -c100 -d"${seconds}s" --timeout 10s --latency -s scripts/wrk-signup.lua "http://127.0.0.1:$port"
echo "sign-ups stored: $(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from signups').fetchone()[0])" "$work/signups.sqlite")"
