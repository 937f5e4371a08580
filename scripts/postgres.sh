#!/usr/bin/env bash
# Provision and run the local PostgreSQL cluster that `make test` runs the suite against.
#
#   scripts/postgres.sh start|stop|status|url
#
# Environment:
#   DATABASE_URL     a postgres:// URL: that server is used; nothing is installed or started.
#   PG_PORT          port of the local cluster (default: a free port, chosen once and kept).
#   BODYGUARD_CACHE  where the cluster lives (default ~/.cache/bodyguard, or
#                    /var/cache/bodyguard when run as root: PostgreSQL refuses to run as root,
#                    so the cluster then belongs to Debian's `postgres` user).
#
# Debian's `postgresql` package is installed with apt-get when no server binaries are found.
# The cluster listens on 127.0.0.1 only, with a password generated at creation (file mode 0600).
set -euo pipefail

if [[ $(id -u) -eq 0 ]]; then
    CACHE="${BODYGUARD_CACHE:-/var/cache/bodyguard}"
else
    CACHE="${BODYGUARD_CACHE:-$HOME/.cache/bodyguard}"
fi
PG_DIR="$CACHE/postgres"
DATA="$PG_DIR/data"
ROLE="bodyguard"

die() { echo "postgres.sh: $*" >&2; exit 1; }
say() { echo "postgres.sh: $*" >&2; }

external_url() {
    [[ "${DATABASE_URL:-}" == postgres://* || "${DATABASE_URL:-}" == postgresql://* ]]
}

bin_dir() {
    local initdb
    initdb=$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1 || true)
    [[ -n "$initdb" ]] && dirname "$initdb"
}

install_server() {
    [[ -n "$(bin_dir)" ]] && return 0
    say "installing Debian's postgresql for the test suite"
    local sudo=""
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || die "PostgreSQL is needed: apt-get install postgresql (as root)"
        sudo=sudo
    fi
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql \
        || die "could not install postgresql with apt-get; install it, then run make test again"
    [[ -n "$(bin_dir)" ]] || die "postgresql installed but no initdb found under /usr/lib/postgresql"
}

# Root runs the server as Debian's `postgres` user; anyone else runs it as themselves.
as_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

port() { cat "$PG_DIR/port"; }
password() { cat "$PG_DIR/password"; }

local_url() { echo "postgres://$ROLE:$(password)@127.0.0.1:$(port)/$ROLE"; }

running() {
    [[ -f "$DATA/PG_VERSION" ]] && as_owner "$(bin_dir)/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

create_cluster() {
    mkdir -p "$PG_DIR"
    chmod 755 "$CACHE" 2>/dev/null || true
    if [[ ! -f "$PG_DIR/password" ]]; then
        (umask 077; python3 -c 'import secrets; print(secrets.token_urlsafe(24))' >"$PG_DIR/password")
    fi
    [[ -f "$PG_DIR/port" ]] || echo "${PG_PORT:-$(free_port)}" >"$PG_DIR/port"
    [[ -f "$DATA/PG_VERSION" ]] && return 0
    say "creating a cluster in $DATA"
    local pwfile
    pwfile=$(mktemp)
    password >"$pwfile"
    if [[ $(id -u) -eq 0 ]]; then
        chown postgres "$PG_DIR" "$pwfile"
    fi
    as_owner "$(bin_dir)/initdb" -D "$DATA" -U "$ROLE" --pwfile="$pwfile" \
        --auth-local=scram-sha-256 --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwfile"
}

start() {
    if external_url; then
        say "using DATABASE_URL"
        return 0
    fi
    install_server
    create_cluster
    if running; then
        ensure_database
        return 0
    fi
    if [[ -n "${PG_PORT:-}" ]]; then echo "$PG_PORT" >"$PG_DIR/port"; fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$(port)") 2>/dev/null; then
        say "port $(port) is taken by another program: choosing another"
        free_port >"$PG_DIR/port"
    fi
    # Sockets in the data directory: /var/run/postgresql may not exist or not be ours.
    as_owner "$(bin_dir)/pg_ctl" -D "$DATA" -l "$PG_DIR/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $(port) -k $DATA -c fsync=off -c max_connections=200" \
        start >/dev/null || { tail -n 20 "$PG_DIR/server.log" >&2; die "the server did not start"; }
    ensure_database
    say "PostgreSQL on 127.0.0.1:$(port)"
}

ensure_database() {
    local bin
    bin=$(bin_dir)
    if ! PGPASSWORD=$(password) "$bin/psql" -h 127.0.0.1 -p "$(port)" -U "$ROLE" -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = '$ROLE'" | grep -q 1; then
        PGPASSWORD=$(password) "$bin/createdb" -h 127.0.0.1 -p "$(port)" -U "$ROLE" "$ROLE"
    fi
}

stop() {
    external_url && return 0
    if running; then
        as_owner "$(bin_dir)/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status)
        if external_url; then echo "external"; elif running; then echo "running on $(port)"; else echo "stopped"; exit 3; fi
        ;;
    url)
        if external_url; then echo "$DATABASE_URL"; else running || die "not running: scripts/postgres.sh start"; local_url; fi
        ;;
    *) die "usage: scripts/postgres.sh start|stop|status|url" ;;
esac
