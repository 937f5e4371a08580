#!/bin/bash
# One-shot setup of the Compose deployment's Elasticsearch cluster (deploy/compose.yaml), run
# in the Elasticsearch image as root: the certificates of the three nodes (first run only), then,
# once the cluster answers, the "bodyguard" role (its own indices, templates) and user the app
# signs in with. Idempotent: run again on every "docker compose up".
set -euo pipefail
cd /usr/share/elasticsearch
certs=config/certs

: "${ELASTIC_PASSWORD:?set ELASTIC_PASSWORD in deploy/.env}"
: "${ES_APP_PASSWORD:?set ES_APP_PASSWORD in deploy/.env}"
prefix="${BODYGUARD_INDEX_PREFIX:-bodyguard}"

if [ ! -f "$certs/ca/ca.crt" ]; then
  echo "creating the cluster's certificate authority"
  bin/elasticsearch-certutil ca --silent --pem -out "$certs/ca.zip"
  unzip -q "$certs/ca.zip" -d "$certs"
fi
if [ ! -f "$certs/es03/es03.crt" ]; then
  echo "creating the nodes' certificates"
  : > "$certs/instances.yml"
  echo "instances:" >> "$certs/instances.yml"
  for node in es01 es02 es03; do
    printf '  - name: %s\n    dns: [%s, localhost]\n    ip: [127.0.0.1]\n' "$node" "$node" >> "$certs/instances.yml"
  done
  bin/elasticsearch-certutil cert --silent --pem -out "$certs/certs.zip" \
    --in "$certs/instances.yml" --ca-cert "$certs/ca/ca.crt" --ca-key "$certs/ca/ca.key"
  unzip -q "$certs/certs.zip" -d "$certs"
fi
# Nodes run as uid 1000, group 0: keys readable by group 0 only. The CA certificate (public)
# is readable by all, for the app containers that mount this volume read-only.
chown -R root:root "$certs"
find "$certs" -type d -exec chmod 750 {} +
find "$certs" -type f -exec chmod 640 {} +
chmod 755 "$certs" "$certs/ca"
chmod 644 "$certs/ca/ca.crt"
touch "$certs/.ready"

echo "waiting for the cluster"
until curl -fsS --cacert "$certs/ca/ca.crt" -u "elastic:$ELASTIC_PASSWORD" \
    "https://es01:9200/_cluster/health?wait_for_status=yellow&timeout=30s" >/dev/null; do
  sleep 5
done

echo "creating the role and user \"bodyguard\" (indices $prefix-*)"
es() {
  curl -fsS --cacert "$certs/ca/ca.crt" -u "elastic:$ELASTIC_PASSWORD" \
    -H "Content-Type: application/json" -X PUT "https://es01:9200/$1" -d "$2" >/dev/null
}
es "_security/role/bodyguard" \
  "{\"cluster\": [\"monitor\", \"manage_index_templates\"], \"indices\": [{\"names\": [\"$prefix-*\"], \"privileges\": [\"all\"]}]}"
es "_security/user/bodyguard" \
  "{\"password\": \"$ES_APP_PASSWORD\", \"roles\": [\"bodyguard\"]}"
echo "Elasticsearch is ready"
