#!/usr/bin/env bash
# Property-based pass over the whole API with schemathesis: generated requests (bounded number
# of examples per operation) against a real server on a fresh SQLite database. Fails on any 5xx
# and on any response that does not match openapi.yaml.
#
# Usage: e2e/fuzz.sh <path to the tessera binary> [max examples per operation]
set -euo pipefail
bin=$(realpath "$1")
cd "$(dirname "$0")"
examples=${2:-25}

if [[ ! -x .venv/bin/st ]] || ! cmp -s requirements-fuzz.txt .venv/requirements.txt; then
    python3 -m venv .venv
    .venv/bin/pip install -q -r requirements-fuzz.txt
    cp requirements-fuzz.txt .venv/requirements.txt
fi

# The document itself first: a standard validator, and each path written once (YAML loaders keep
# the last of duplicate keys, and generators refuse them).
.venv/bin/openapi-spec-validator ../openapi.yaml
dupes=$(grep -E '^  /' ../openapi.yaml | sort | uniq -d)
if [[ -n "$dupes" ]]; then
    echo "openapi.yaml has paths twice: $dupes" >&2
    exit 1
fi

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
TESSERA_ADDR="127.0.0.1:$port" TESSERA_DATA_DIR="$work" TESSERA_WEB_DIR="$work/none" DATABASE_URL= REDIS_URL= \
    TESSERA_SECRET=fuzz TESSERA_RATE_LIMIT=0 RUST_LOG=warn "$bin" serve >"$work/server.log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
for _ in $(seq 50); do curl -sf "$base/health/ready" >/dev/null && break; sleep 0.2; done

# Seed: an admin with a category, a project and a few tasks, so item routes find something.
key=$(curl -sf -X POST "$base/api/auth/register" -H 'content-type: application/json' \
    -d '{"name":"fuzzer","email_addr":"fuzz@example.org","password":"fuzz password"}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')
curl -sf -X POST "$base/api/category?api_key=$key" -d '{"name":"C","short_name":"c","description":"d"}' >/dev/null
curl -sf -X POST "$base/api/project?api_key=$key" -d '{"name":"P","short_name":"p","description":"d"}' >/dev/null
for i in 1 2 3; do
    curl -sf -X POST "$base/api/task?api_key=$key" -d "{\"project_id\":1,\"info\":{\"n\":$i}}" >/dev/null
done

status=0
.venv/bin/st run ../openapi.yaml \
    --url "$base/api" \
    --header "Authorization: $key" \
    --checks not_a_server_error,response_schema_conformance,content_type_conformance,status_code_conformance \
    --max-examples "$examples" \
    --seed 1 \
    --suppress-health-check all \
    --request-timeout 10 || status=$?
if grep -q "request failed" "$work/server.log"; then
    echo "server logged failures:" >&2
    grep "request failed" "$work/server.log" | head -20 >&2
    status=1
fi
exit "$status"
