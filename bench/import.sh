#!/usr/bin/env bash
# `just bench` (second part): server-side task import on PostgreSQL. Imports a generated CSV of
# 100,000 and of BENCH_IMPORT_ROWS (1,000,000) rows into fresh projects with `tessera import` (the
# import job's own code, run in its own process so its peak memory is the job's), then imports
# the big file again (every row a duplicate). Prints a Markdown table.
#
# Env: BENCH_IMPORT_ROWS (1000000), TEST_POSTGRES_URL, CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

PG=${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
ROWS=${BENCH_IMPORT_ROWS:-1000000}
bin="$(realpath "${CARGO_TARGET_DIR:-target}")/release"
tag="i$$_$(date +%s)"
db="tessera_bench_$tag"
dburl="${PG%/*}/$db"
work=$(mktemp -d)
say() { printf '==> %s\n' "$*" >&2; }
cleanup() {
    psql -q "$PG" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

psql -q "$PG" -c "CREATE DATABASE $db" >/dev/null
export DATABASE_URL="$dburl?sslmode=disable" TESSERA_DATA_DIR="$work" TESSERA_SECRET=bench RUST_LOG=warn
# The owner and the two projects are made through the API, as an owner makes them.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
TESSERA_ADDR="127.0.0.1:$port" TESSERA_WEB_DIR="$work/none" TESSERA_RATE_LIMIT=0 TESSERA_WORKERS=0 \
    "$bin/tessera" serve >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do curl -sf "$base/health/ready" >/dev/null && break; sleep 0.2; done
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
key=$(curl -sf -X POST "$base/api/auth/register" -H 'content-type: application/json' \
    -d '{"name":"owner","email_addr":"owner@example.org","password":"bench password"}' | json '["api_key"]')
for short in small big; do
    curl -sf -X POST "$base/api/project?api_key=$key" \
        -d "{\"name\":\"$short\",\"short_name\":\"$short\",\"description\":\"bench\"}" >/dev/null
done
kill "$server" && wait "$server" 2>/dev/null || true

# Rows like an image-classification project's: a URL, a question, an id of the owner's, and a
# redundancy column.
python3 - "$work" "$ROWS" <<'PY'
import sys
work, rows = sys.argv[1], int(sys.argv[2])
for name, n in (("small", 100_000), ("big", rows)):
    with open(f"{work}/{name}.csv", "w") as f:
        f.write("url,question,external_id,n_answers\n")
        for i in range(n):
            f.write(f"https://images.example.org/{i:08d}.jpg,Is there a cat in this picture?,img-{i},3\n")
PY

run() {  # project file → "seconds peak_kb created duplicates"
    local start end out
    start=$(date +%s.%N)
    out=$("$bin/tessera" import --project "$1" "$2" 2>&1 >/dev/null | tail -1)
    end=$(date +%s.%N)
    python3 - "$start" "$end" "$out" <<'PY'
import re, sys
start, end, out = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
m = re.search(r"created (\d+) tasks, (\d+) duplicates.*peak memory (\d+) kB", out)
if not m:
    sys.exit(f"unexpected output: {out}")
print(f"{end - start:.2f} {m.group(3)} {m.group(1)} {m.group(2)}")
PY
}

say "importing 100,000 rows"
read -r s_secs s_kb s_created _ < <(run small "$work/small.csv")
say "importing $ROWS rows"
read -r b_secs b_kb b_created _ < <(run big "$work/big.csv")
say "importing the $ROWS rows again (all duplicates)"
read -r r_secs r_kb r_created r_dups < <(run big "$work/big.csv")
tasks=$(psql -Atq "$dburl" -c "SELECT count(*) FROM task")
counted=$(psql -Atq "$dburl" -c "SELECT sum(n_tasks) FROM project_counter")

python3 - "$ROWS" "$s_secs" "$s_kb" "$s_created" "$b_secs" "$b_kb" "$b_created" "$r_secs" "$r_kb" "$r_created" "$r_dups" "$tasks" "$counted" <<'PY'
import sys
rows = int(sys.argv[1])
s_secs, s_kb, s_created, b_secs, b_kb, b_created, r_secs, r_kb, r_created, r_dups, tasks, counted = (
    float(a) for a in sys.argv[2:14])
out = [
    ("import 100,000 CSV rows: seconds, rows/s", f"{s_secs:.1f} s, {100_000 / s_secs:,.0f}"),
    (f"import {rows:,} CSV rows: seconds, rows/s", f"{b_secs:.1f} s, {rows / b_secs:,.0f}"),
    (f"re-import of the {rows:,} rows (all duplicates): seconds, rows/s", f"{r_secs:.1f} s, {rows / r_secs:,.0f}"),
    ("tasks created / duplicates on re-import", f"{b_created + s_created:,.0f} / {r_dups:,.0f} (re-import created {r_created:.0f})"),
    ("tasks in the database / in the counters", f"{tasks:,.0f} / {counted:,.0f}"),
    ("peak memory of the import process, 100k / 1M / re-import (MB)", f"{s_kb / 1024:.1f} / {b_kb / 1024:.1f} / {r_kb / 1024:.1f}"),
    ("peak memory ratio 1M / 100k", f"{b_kb / s_kb:.2f}"),
]
print("| import measure (PostgreSQL, one process) | value |")
print("|---|---|")
for k, v in out:
    print(f"| {k} | {v} |")
PY
