#!/usr/bin/env bash
# Runs a command beside a throwaway PostgreSQL server:
#
#   scripts/with-postgres.sh swift test
#
# initdb into a temporary folder (as an unprivileged user: PostgreSQL refuses to run as root),
# listen on 127.0.0.1 only, on a free port, with password authentication; export
#   DIRECTSMTP_POSTGRES_URL      postgresql://USER:PASSWORD@127.0.0.1:PORT/directsmtp
#   DIRECTSMTP_POSTGRES_RESTART  a script that restarts the server (pg_ctl restart), for the
#                                tests that check workers reconnect
#   DIRECTSMTP_POSTGRES_BIN      the folder of the server's programs (pgbench, psql)
# run the command, and stop the server and remove the folder whatever happens.
# The exit status is the command's.
set -euo pipefail

if [ "$#" -eq 0 ]; then
    echo "usage: $0 COMMAND [ARGUMENT...]" >&2
    exit 64
fi

find_bin() {
    if [ -n "${DIRECTSMTP_POSTGRES_BIN:-}" ] && [ -x "$DIRECTSMTP_POSTGRES_BIN/initdb" ]; then
        echo "$DIRECTSMTP_POSTGRES_BIN"; return
    fi
    if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
        pg_config --bindir; return
    fi
    # Debian keeps the server programs out of PATH, one folder per major version.
    local newest
    newest=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -n "$newest" ] && [ -x "$newest/initdb" ]; then
        echo "$newest"; return
    fi
    if command -v initdb >/dev/null 2>&1; then
        dirname "$(command -v initdb)"; return
    fi
    return 1
}

PGBIN=$(find_bin) || {
    echo "with-postgres: no PostgreSQL server programs found (apt-get install postgresql)" >&2
    exit 69
}

# PostgreSQL will not run as root: run the server as `postgres` (or a user made for it).
as_server_user=()
server_user=$(id -un)
if [ "$(id -u)" -eq 0 ]; then
    server_user=postgres
    if ! id "$server_user" >/dev/null 2>&1; then
        server_user=directsmtp-pg
        id "$server_user" >/dev/null 2>&1 || useradd --system --no-create-home "$server_user"
    fi
    as_server_user=(runuser -u "$server_user" --)
fi

workdir=$(mktemp -d "${TMPDIR:-/tmp}/directsmtp-pg.XXXXXX")
chmod 755 "$workdir"
datadir="$workdir/data"
mkdir "$datadir"
[ "$(id -u)" -eq 0 ] && chown "$server_user" "$workdir" "$datadir"

stop_server() {
    local status=$?
    if [ -f "$datadir/postmaster.pid" ]; then
        "${as_server_user[@]}" "$PGBIN/pg_ctl" -D "$datadir" -m immediate -w -t 30 stop \
            >/dev/null 2>&1 || true
    fi
    rm -rf "$workdir"
    exit "$status"
}
trap stop_server EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

db_user=directsmtp
db_password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$db_password" >"$workdir/pwfile"
[ "$(id -u)" -eq 0 ] && chown "$server_user" "$workdir/pwfile"
chmod 600 "$workdir/pwfile"

"${as_server_user[@]}" "$PGBIN/initdb" -D "$datadir" -U "$db_user" --pwfile="$workdir/pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$workdir/initdb.log" 2>&1 || {
    cat "$workdir/initdb.log" >&2
    exit 70
}
rm -f "$workdir/pwfile"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()' 2>/dev/null \
        || echo $((20000 + RANDOM % 20000))
}

# A port found free may be taken before the server binds it: try a few.
started=no
for _ in 1 2 3 4 5; do
    port=$(free_port)
    if "${as_server_user[@]}" "$PGBIN/pg_ctl" -D "$datadir" -l "$workdir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $workdir -c max_connections=200" \
        start >/dev/null 2>&1; then
        started=yes
        break
    fi
done
if [ "$started" != yes ]; then
    echo "with-postgres: the server did not start; its log:" >&2
    cat "$workdir/server.log" >&2 || true
    exit 70
fi

"${as_server_user[@]}" "$PGBIN/createdb" -h "$workdir" -p "$port" -U "$db_user" directsmtp

cat >"$workdir/restart.sh" <<EOF
#!/usr/bin/env bash
# Restarts the throwaway server (fast shutdown: open connections are closed).
exec ${as_server_user[*]} "$PGBIN/pg_ctl" -D "$datadir" -l "$workdir/server.log" -m fast -w -t 60 restart >/dev/null \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $workdir -c max_connections=200"
EOF
chmod 755 "$workdir/restart.sh"

export DIRECTSMTP_POSTGRES_URL="postgresql://$db_user:$db_password@127.0.0.1:$port/directsmtp"
export DIRECTSMTP_POSTGRES_RESTART="$workdir/restart.sh"
export DIRECTSMTP_POSTGRES_BIN="$PGBIN"
export DIRECTSMTP_POSTGRES_SOCKET_DIR="$workdir"
echo "with-postgres: PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (data in $datadir)" >&2

# Not `exec`: the trap must still stop the server when the command ends. In the background,
# so that a TERM or INT for this script reaches the command too (e.g. from `timeout`).
set +e
"$@" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null; wait "$child"; exit 143' TERM
trap 'kill -INT "$child" 2>/dev/null; wait "$child"; exit 130' INT
wait "$child"
status=$?
set -e
exit "$status"
