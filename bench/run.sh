#!/usr/bin/env bash
# `just bench`: the volunteer loop under load on PostgreSQL + Redis, compared in the same run
# with pgbench -N (the database's own write limit at the same client count) and with
# PostgreSQL alone replaying the loop's own statements (bench/db_ceiling.py: what the database
# could serve if the API cost nothing), plus newtask latency as projects and volunteer histories
# grow. Prints a Markdown table.
#
# Env: BENCH_TASKS (100000), BENCH_VOLUNTEERS (64), BENCH_SECONDS (20), BENCH_BIG (1000000),
#      BENCH_AUTH (token, api-key or bearer: the volunteers of a BENCH_LOOP_ONLY run),
#      TEST_POSTGRES_URL, TEST_REDIS_URL, CARGO_TARGET_DIR;
#      BENCH_SERVER (another `tessera` binary, to compare builds), BENCH_LOOP_ONLY=1 (print the
#      loop's figures as JSON and stop; =quality: the plain, control and quality-control loops),
#      BENCH_QUALITY (the quality loop's settings), BENCH_KEEP_DB=1 (leave the database for EXPLAIN),
#      BENCH_PRE_SQL (a file of SQL run on each seeded project's database, to try a schema change),
#      BENCH_SOCKET (PostgreSQL's Unix socket folder, default /var/run/postgresql; empty: TCP).
set -euo pipefail
cd "$(dirname "$0")/.."

PG=${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
REDIS=${TEST_REDIS_URL:-redis://127.0.0.1:6379}
TASKS=${BENCH_TASKS:-100000}
VOLS=${BENCH_VOLUNTEERS:-64}
SECS=${BENCH_SECONDS:-20}
BIG=${BENCH_BIG:-1000000}
bin="$(realpath "${CARGO_TARGET_DIR:-target}")/release"

tag="b$$_$(date +%s)"
db="tessera_bench_$tag"
pgb="tessera_pgbench_$tag"
dburl="${PG%/*}/$db"
# PostgreSQL on this machine is reached through its Unix socket, by the API and by pgbench
# alike, as a co-located deployment would: TCP on loopback costs both ends more CPU per round
# trip (measured: +11-23 % pairs/s over the socket).
pguser=${PG#*://}
pguser=${pguser%%@*}
sock=${BENCH_SOCKET-/var/run/postgresql}
if [ -n "$sock" ] && [ -S "$sock/.s.PGSQL.5432" ]; then
    transport="Unix socket"
    api_db="postgres://$pguser@localhost/$db?host=$sock"
    pgconn() { echo "host=$sock user=$pguser dbname=$1"; }
else
    transport="TCP, no TLS"
    api_db="$dburl?sslmode=disable"
    pgconn() { echo "${PG%/*}/$1"; }
fi
prefix="tessera-bench-$tag:"
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
server=""

say() { printf '==> %s\n' "$*" >&2; }
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    [ -n "${BENCH_KEEP_DB:-}" ] && echo "kept database $db" >&2 ||
        psql -q "$PG" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    psql -q "$PG" -c "DROP DATABASE IF EXISTS $pgb WITH (FORCE)" >/dev/null 2>&1 || true
    redis-cli -u "$REDIS" --scan --pattern "${prefix}*" | xargs -r -n 500 redis-cli -u "$REDIS" del >/dev/null 2>&1 || true
    [ -n "${BENCH_KEEP_LOG:-}" ] && cp "$work/server.log" "$BENCH_KEEP_LOG"
    rm -rf "$work"
}
trap cleanup EXIT

json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

psql -q "$PG" -c "CREATE DATABASE $db" >/dev/null
say "starting tessera (release) on PostgreSQL + Redis"
# Loopback TCP goes without TLS, for the API as for pgbench (PGSSLMODE below); TLS to a local
# socket only burns both sides' CPU.
DATABASE_URL="$api_db" REDIS_URL="$REDIS" REDIS_KEY_PREFIX="$prefix" TESSERA_ADDR="127.0.0.1:$port" \
    TESSERA_DATA_DIR="$work" TESSERA_WEB_DIR="$work/none" TESSERA_SECRET=bench TESSERA_RATE_LIMIT=0 RUST_LOG=${BENCH_LOG:-warn} \
    "${BENCH_SERVER:-$bin/tessera}" serve >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do curl -sf "$base/health/ready" >/dev/null && break; sleep 0.2; done

key=$(curl -sf -X POST "$base/api/auth/register" -H 'content-type: application/json' \
    -d '{"name":"owner","email_addr":"owner@example.org","password":"bench password"}' | json '["api_key"]')
curl -sf -X POST "$base/api/category?api_key=$key" -d '{"name":"C","short_name":"c","description":"d"}' >/dev/null

# A project with $2 tasks seeded in SQL (the API path for tasks is covered by the tests).
project() {
    local short=$1 n=$2 id secret
    id=$(curl -sf -X POST "$base/api/project?api_key=$key" \
        -d "{\"name\":\"$short\",\"short_name\":\"$short\",\"description\":\"bench\"}" | json '["id"]')
    psql -q "$dburl" -v ON_ERROR_STOP=1 >/dev/null <<SQL
INSERT INTO task (created, project_id, state, quorum, calibration, priority_0, info, n_answers, n_task_runs)
SELECT to_char(now(), 'YYYY-MM-DD"T"HH24:MI:SS.US'), $id, 'ongoing', 0, 0, random(),
       jsonb_build_object('url', 'https://example.org/' || g || '.jpg'), 3, 0
FROM generate_series(1, $n) g;
UPDATE project_counter SET n_tasks = n_tasks + $n WHERE project_id = $id AND shard = 0;
ANALYZE task;
SQL
    if [ -n "${BENCH_PRE_SQL:-}" ]; then
        psql -q "$dburl" -v ON_ERROR_STOP=1 -f "$BENCH_PRE_SQL" >/dev/null
    fi
    # Published, as a project open to volunteers is (drafts are their owners' alone).
    curl -sf -X POST "$base/api/project/$id/publish?api_key=$key" >/dev/null
    secret=$(curl -sf "$base/api/project/$id?api_key=$key" | json '["secret_key"]')
    echo "$id $(curl -sf "$base/api/auth/project/$short/token" -H "authorization: $secret")"
}

say "seeding $TASKS tasks"
read -r loop_id loop_token < <(project loop "$TASKS")
say "loop: $VOLS volunteers (${BENCH_AUTH:-token}) for ${SECS}s"
loop=$("$bin/tessera-bench" --base "$base" --project "$loop_id" --token "$loop_token" \
    --auth "${BENCH_AUTH:-token}" loop --volunteers "$VOLS" --seconds "$SECS" --server-pid "$server")
if [ -n "${BENCH_LOOP_ONLY:-}" ] && [ "${BENCH_LOOP_ONLY}" != quality ]; then
    echo "$loop"
    exit 0
fi
if [ "${BENCH_LOOP_ONLY:-}" != quality ]; then
    # The same loop with signed-in volunteers: api keys (pbs, enki) and bearer tokens (the web app).
    say "loop: $VOLS signed-in volunteers with api keys for ${SECS}s"
    loop_key=$("$bin/tessera-bench" --base "$base" --project "$loop_id" --token "$loop_token" \
        --auth api-key loop --volunteers "$VOLS" --seconds "$SECS" --server-pid "$server")
    say "loop: $VOLS signed-in volunteers with bearer tokens for ${SECS}s"
    loop_bearer=$("$bin/tessera-bench" --base "$base" --project "$loop_id" --token "$loop_token" \
        --auth bearer loop --volunteers "$VOLS" --seconds "$SECS" --server-pid "$server")
fi

# The same loop with quality control on: Dawid-Skene (refitted by the worker as answers come),
# a tenth of the tasks served gold, and tasks finishing early when two answers agree (cap 3);
# BENCH_QUALITY: other settings, to see what each costs. It is compared with the same loop
# without quality control on a project seeded alike (its gold tasks never served), the two run
# alternately in halves (control, quality, quality, control): run one after the other, the
# second project's loop did 11-15% less than the first's with nothing on (checkpoints falling
# between, the first one's answers in the same tables; see BENCHMARKS.md).
quality_settings=${BENCH_QUALITY:-'{"aggregation": "dawid_skene", "gold_rate": 0.1, "retire": {"min_answers": 2, "confidence": 0.8}}'}
with_gold() {
    local id token
    read -r id token < <(project "$1" "$TASKS")
    psql -q "$dburl" -v ON_ERROR_STOP=1 >/dev/null <<SQL
INSERT INTO task (created, project_id, state, quorum, calibration, priority_0, info, n_answers, n_task_runs, gold_answers)
SELECT to_char(now(), 'YYYY-MM-DD"T"HH24:MI:SS.US'), $id, 'ongoing', 0, 1, 0,
       jsonb_build_object('url', 'https://example.org/gold/' || g || '.jpg'), 1, 0, '{"answer": 0}'::jsonb
FROM generate_series(1, 2000) g;
ANALYZE task;
SQL
    curl -sf -X PUT "$base/api/project/$id?api_key=$key" -H 'content-type: application/json' \
        -d "{\"info\": {\"quality\": $2}}" >/dev/null
    echo "$id $token"
}
say "seeding two projects of $TASKS tasks and 2000 gold tasks: quality control on and off"
read -r q_id q_token < <(with_gold quality "$quality_settings")
read -r c_id c_token < <(with_gold control '{"gold_rate": 0}')
half=$(( (SECS + 1) / 2 ))
half_loop() {
    "$bin/tessera-bench" --base "$base" --project "$1" --token "$2" \
        --auth "${BENCH_AUTH:-token}" loop --volunteers "$VOLS" --seconds "$half" --server-pid "$server"
}
say "loop: $VOLS volunteers, quality control off and on ($quality_settings), 2 x ${half}s each"
c1=$(half_loop "$c_id" "$c_token")
q1=$(half_loop "$q_id" "$q_token")
q2=$(half_loop "$q_id" "$q_token")
c2=$(half_loop "$c_id" "$c_token")
merge() { python3 bench/merge_loops.py "$@"; }
loop_control=$(merge "$c1" "$c2")
loop_quality=$(merge "$q1" "$q2")
quality_facts=$(psql -Atq "$dburl" -F ' ' -c "SELECT
    (SELECT count(*) FROM task_run WHERE project_id = $q_id AND gold_correct IS NOT NULL),
    (SELECT count(*) FROM task_run WHERE project_id = $q_id),
    (SELECT count(*) FROM task WHERE project_id = $q_id AND calibration = 0 AND state = 'completed' AND n_task_runs < n_answers),
    (SELECT count(*) FROM task WHERE project_id = $q_id AND calibration = 0 AND state = 'completed'),
    (SELECT count(*) FROM result WHERE project_id = $q_id AND info->'aggregate'->>'method' = 'dawid_skene')")
if [ "${BENCH_LOOP_ONLY:-}" = quality ]; then
    # BENCH_LOOP_ONLY=quality: the plain, the control and the quality loop's figures, then stop.
    echo "{\"plain\": $loop, \"control\": $loop_control, \"quality\": $loop_quality, \"facts\": \"$quality_facts\"}"
    exit 0
fi

# Right after the loop, on its database, with the (idle) server still up.
say "PostgreSQL alone replaying the loop's statements: $VOLS clients for ${SECS}s"
read -r first last < <(psql -Atq "$dburl" -F ' ' -c "SELECT min(id), max(id) FROM task WHERE project_id = $loop_id")
mkdir -p "$work/ceiling"
python3 bench/db_ceiling.py "$work/ceiling" "$loop_id" "$first" "$last"
psql -q "$dburl" -v ON_ERROR_STOP=1 -f "$work/ceiling/setup.sql" >/dev/null
ceiling=$(PGSSLMODE=disable pgbench -n -M prepared -c "$VOLS" -j 2 -T "$SECS" \
    -f "$work/ceiling/answer.sql@2" -f "$work/ceiling/complete.sql@1" "$(pgconn "$db")" 2>/dev/null |
    awk '/^tps/ {print $3; exit}')

say "newtask latency at 10k and $BIG tasks"
read -r small_id small_token < <(project small 10000)
read -r big_id big_token < <(project big "$BIG")
nt_small=$("$bin/tessera-bench" --base "$base" --project "$small_id" --token "$small_token" newtask --requests 300)
nt_big=$("$bin/tessera-bench" --base "$base" --project "$big_id" --token "$big_token" newtask --requests 300)

say "a volunteer with 10k answers"
psql -q "$dburl" -v ON_ERROR_STOP=1 >/dev/null <<SQL
WITH first AS (SELECT id FROM task WHERE project_id = $big_id ORDER BY id LIMIT 10000)
INSERT INTO task_run (created, project_id, task_id, finish_time, external_uid, info)
SELECT to_char(now(), 'YYYY-MM-DD"T"HH24:MI:SS.US'), $big_id, id, to_char(now(), 'YYYY-MM-DD"T"HH24:MI:SS.US'),
       'veteran', '{"answer": 1}'::jsonb FROM first;
UPDATE task SET n_task_runs = 1 WHERE id IN (SELECT id FROM task WHERE project_id = $big_id ORDER BY id LIMIT 10000);
ANALYZE task_run;
SQL
nt_new=$("$bin/tessera-bench" --base "$base" --project "$big_id" --token "$big_token" newtask --requests 300 --uid newcomer)
nt_vet=$("$bin/tessera-bench" --base "$base" --project "$big_id" --token "$big_token" newtask --requests 300 --uid veteran)

kill "$server" && wait "$server" 2>/dev/null || true
server=""

say "pgbench -N with $VOLS clients for ${SECS}s"
psql -q "$PG" -c "CREATE DATABASE $pgb" >/dev/null
pgbench -q -i -s 10 "${PG%/*}/$pgb" >/dev/null 2>&1
tps=$(PGSSLMODE=disable pgbench -N -n -c "$VOLS" -j 2 -T "$SECS" "$(pgconn "$pgb")" 2>/dev/null | awk '/^tps/ {print $3; exit}')

python3 - "$loop" "$nt_small" "$nt_big" "$nt_new" "$nt_vet" "$tps" "$TASKS" "$BIG" "$transport" "$ceiling" "$loop_key" "$loop_bearer" "$loop_quality" "$quality_facts" "$loop_control" <<'PY'
import json, sys
loop, small, big, new, vet = (json.loads(a) for a in sys.argv[1:6])
quality, control = json.loads(sys.argv[13]), json.loads(sys.argv[15])
gold_runs, q_runs, retired, q_done, ds_results = (int(x) for x in sys.argv[14].split())
tps, tasks, bigsize = float(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8])
ceiling = float(sys.argv[10])
key_loop, bearer_loop = json.loads(sys.argv[11]), json.loads(sys.argv[12])
rows = [
    ("connection to PostgreSQL (API and pgbench)", sys.argv[9]),
    ("volunteer loop (newtask+taskrun pairs/s)", f"{loop['pairs_per_s']:.0f}"),
    ("pair latency p50 / p99 (ms)", f"{loop['pair_p50_ms']:.1f} / {loop['pair_p99_ms']:.1f}"),
    ("newtask p50 / p99 under load (ms)", f"{loop['newtask_p50_ms']:.1f} / {loop['newtask_p99_ms']:.1f}"),
    ("taskrun p50 / p99 under load (ms)", f"{loop['taskrun_p50_ms']:.1f} / {loop['taskrun_p99_ms']:.1f}"),
    ("errors / surplus answers / empty newtasks", f"{loop['errors']} / {loop['surplus']} / {loop['empty']}"),
    ("signed-in volunteers, api keys: pairs/s (share of the project-token run)",
     f"{key_loop['pairs_per_s']:.0f} ({key_loop['pairs_per_s'] / loop['pairs_per_s']:.0%})"),
    ("signed-in volunteers, bearer tokens: pairs/s (share of the project-token run)",
     f"{bearer_loop['pairs_per_s']:.0f} ({bearer_loop['pairs_per_s'] / loop['pairs_per_s']:.0%})"),
    ("api-key / bearer runs: errors, API CPU per pair (µs)",
     f"{key_loop['errors']}, {key_loop['cpu_us_per_pair']['api']:.0f} / "
     f"{bearer_loop['errors']}, {bearer_loop['cpu_us_per_pair']['api']:.0f}"),
    ("the loop again on a second project, quality control off, alternating with the next: pairs/s (share of the first run)",
     f"{control['pairs_per_s']:.0f} ({control['pairs_per_s'] / loop['pairs_per_s']:.0%})"),
    ("quality on (dawid_skene, gold_rate 0.1, retire at 2 agreeing of 3): pairs/s (share of the loop with it off, alternating)",
     f"{quality['pairs_per_s']:.0f} ({quality['pairs_per_s'] / control['pairs_per_s']:.0%})"),
    ("quality run: pair p50 / p99 (ms), errors / surplus",
     f"{quality['pair_p50_ms']:.1f} / {quality['pair_p99_ms']:.1f}, {quality['errors']} / {quality['surplus']}"),
    ("quality run: gold answers, tasks finished early of completed, results refitted (dawid_skene)",
     f"{gold_runs / max(q_runs, 1):.1%} of {q_runs}, {retired} of {q_done}, {ds_results}"),
    ("pgbench -N tps (same clients)", f"{tps:.0f}"),
    ("pairs/s as share of pgbench -N tps", f"{loop['pairs_per_s'] / tps:.0%}"),
    ("PostgreSQL alone replaying the loop's SQL one answer per statement, pairs/s (pgbench)", f"{ceiling:.0f}"),
    ("loop pairs/s as share of that", f"{loop['pairs_per_s'] / ceiling:.0%}"),
    ("API max RSS during the loop (MB)", f"{loop['server_max_rss_mb']:.1f}"),
    ("CPU per pair (µs): API / PostgreSQL / Redis / load driver",
     " / ".join(f"{loop['cpu_us_per_pair'][k]:.0f}" for k in ("api", "postgres", "redis", "driver"))),
    ("machine busy during the loop (2 cores)", f"{loop['machine_busy']:.0%}"),
    (f"newtask p50 at 10k tasks (ms)", f"{small['p50_ms']:.2f}"),
    (f"newtask p50 at {bigsize:,} tasks (ms)", f"{big['p50_ms']:.2f}"),
    ("ratio 1M / 10k", f"{big['p50_ms'] / small['p50_ms']:.2f}"),
    ("newtask p50, new volunteer (ms)", f"{new['p50_ms']:.2f}"),
    ("newtask p50, volunteer with 10k answers (ms)", f"{vet['p50_ms']:.2f}"),
    ("ratio veteran / new", f"{vet['p50_ms'] / new['p50_ms']:.2f}"),
]
print(f"| measure ({loop['volunteers']} volunteers, {tasks:,} tasks, {loop['seconds']:.0f} s) | value |")
print("|---|---|")
for k, v in rows:
    print(f"| {k} | {v} |")
PY
