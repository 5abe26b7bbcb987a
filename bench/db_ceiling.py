#!/usr/bin/env python3
"""pgbench scripts that replay the volunteer loop's own SQL with no API in front.

`just bench` runs them on the loop's database after the loop: how many newtask+taskrun pairs per
second PostgreSQL could serve on this machine if the API, Redis and the load driver cost nothing,
with each answer its own statement (the API with TESSERA_ANSWER_BATCHING=false; with batching on,
the loop can pass this figure).
The answer statements are read from api/src/domain/volunteer/{answers,completion}.rs, so they follow the code; the
candidate read is the SQL the scheduler's first batch sends (as PostgreSQL's statement log shows
it). Two thirds of pairs take an answer that does not complete its task (one statement); one
third complete it as the API does with n_answers = 3: the single statement finds it would
complete, then BEGIN, the answer, the runs read, the result insert, COMMIT.

Usage: db_ceiling.py OUT_DIR PROJECT_ID FIRST_TASK_ID LAST_TASK_ID [BATCH]
Writes OUT_DIR/setup.sql (run once), OUT_DIR/answer.sql and OUT_DIR/complete.sql. With BATCH it
also writes OUT_DIR/write.sql (one answer, no candidate read) and OUT_DIR/batch.sql (BATCH answers
in one statement, the same steps summed per task, shard, volunteer and hour): how much cheaper
answers get when the ones that arrive together are written together. Run by hand, e.g.
  pgbench -n -M prepared -c 64 -j 2 -T 12 -f write.sql  …  vs  -c 8 -f batch.sql (×BATCH)
"""

import pathlib
import re
import sys

out, project = pathlib.Path(sys.argv[1]), int(sys.argv[2])
first, last = int(sys.argv[3]), int(sys.argv[4])
batch = int(sys.argv[5]) if len(sys.argv) > 5 else 0
root = pathlib.Path(__file__).resolve().parent.parent
src = "".join(
    (root / "api/src/domain/volunteer" / name).read_text()
    for name in ("answers.rs", "completion.rs")
)


def constant(name: str) -> str:
    m = re.search(r"const " + name + r': &str = r#"(.*?)"#;', src, re.S)
    if not m:
        sys.exit(f"db_ceiling: {name} not found in answers.rs or completion.rs")
    return m.group(1)


half = (first + last) // 2
# pgbench's prepared mode turns :variables into parameters; `:` followed by a digit would be
# read as one, so the timestamps below avoid colons.
volunteer = "('pgb-' || :client_id)"
values = {
    1: ":t",
    2: str(project),
    3: "'2026-01-01T00.00.00'",
    4: "NULL::int",
    5: "NULL::text",
    6: "'2026-01-01T00.00.01'",
    7: "('pgb-' || :client_id || '-' || :r)",
    8: "NULL::text",
    9: "'{\"v\": 1}'::jsonb",
    10: "10::bigint",
    11: ":s",
    12: volunteer,
    13: "false",
    14: "1::bigint",
    15: "0::bigint",
}


def answer(standalone: bool) -> str:
    vals = {**values, 16: "true" if standalone else "false"}
    sql = re.sub(r"\$(\d+)", lambda m: vals[int(m.group(1))], constant("ANSWER_SQL"))
    return " ".join(sql.split()) + ";"


candidates = (
    'SELECT "task"."id", "task"."n_task_runs", "task"."n_answers", "task"."created", '
    '"task"."state", "task"."quorum", "task"."calibration", "task"."priority_0", '
    'CAST("info" AS text), CAST("fav_user_ids" AS text) FROM "task" '
    f'WHERE "task"."project_id" = {project} AND "task"."state" = \'ongoing\' '
    'AND "n_task_runs" < "n_answers" AND (NOT EXISTS(SELECT "task_id" FROM "task_run" '
    f'WHERE "task_run"."external_uid" = {volunteer} AND "task_run"."task_id" = "task"."id" '
    'OFFSET 0)) AND "task"."id" >= :t ORDER BY "task"."id" ASC LIMIT 16 OFFSET 0;'
)
runs = " ".join(constant("RUNS_SQL").replace("$1", ":t").split()) + ";"
result = (
    "INSERT INTO result (created, project_id, task_id, task_run_ids, last_version, info) "
    f"SELECT '2026-01-01T00.00.02', {project}, :t, '[1]'::jsonb, true, "
    "'{\"aggregate\": 1}'::jsonb "
    "WHERE NOT EXISTS (SELECT 1 FROM result WHERE task_id = :t AND last_version) RETURNING id;"
)
draw = "\\set s random(0, 63)\n\\set r random(1, 1000000000)\n"

(out / "setup.sql").write_text(
    f"""-- Tasks of the first half never complete; those of the second complete with one answer.
UPDATE task SET n_answers = 1000000 WHERE project_id = {project} AND id <= {half};
UPDATE task SET n_answers = 1
WHERE project_id = {project} AND id > {half} AND n_task_runs = 0 AND state = 'ongoing';
INSERT INTO project_volunteer (project_id, volunteer, user_id, anonymous, n_answers,
                               first_answer, last_answer)
SELECT {project}, 'pgb-' || g, NULL, false, 0, 'x', 'x' FROM generate_series(0, 255) g
ON CONFLICT DO NOTHING;
VACUUM ANALYZE task;
"""
)
(out / "answer.sql").write_text(
    f"\\set t random({first}, {half})\n" + draw + candidates + "\n" + answer(True) + "\n"
)
(out / "complete.sql").write_text(
    f"\\set t random({half + 1}, {last})\n"
    + draw
    + candidates
    + "\n"
    + answer(True)
    + "\nBEGIN;\n"
    + answer(False)
    + "\n"
    + runs
    + "\n"
    + result
    + "\nCOMMIT;\n"
)

if batch:
    (out / "write.sql").write_text(f"\\set t random({first}, {half})\n" + draw + answer(True) + "\n")
    tasks = ",".join(f":t{i}" for i in range(batch))
    uids = ",".join(f"'pgb-' || :client_id || '-' || :r || '-{i}'" for i in range(batch))
    sql = f"""
WITH input AS (
    SELECT DISTINCT ON (task_id) task_id, uid
    FROM unnest(ARRAY[{tasks}]::int[], ARRAY[{uids}]::text[]) AS i(task_id, uid)
    ORDER BY task_id
), counted AS (
    UPDATE task SET n_task_runs = task.n_task_runs + 1
    FROM input
    WHERE task.id = input.task_id AND task.project_id = {project} AND task.state = 'ongoing'
      AND task.n_task_runs + 1 < task.n_answers
      AND EXISTS (SELECT 1 FROM project_volunteer
                  WHERE project_id = {project} AND volunteer = {volunteer})
    RETURNING task.id, task.project_id, input.uid
), run AS (
    INSERT INTO task_run (created, project_id, task_id, user_id, user_ip, finish_time,
                          external_uid, media_url, info)
    SELECT '2026-01-01T00.00.00', project_id, id, NULL, NULL, '2026-01-01T00.00.01', uid, NULL,
           '{{"v": 1}}'::jsonb
    FROM counted
    RETURNING id, task_id
), counter AS (
    INSERT INTO project_counter AS pc (project_id, shard, n_task_runs, answer_ms,
                                       n_completed_tasks, n_results)
    SELECT {project}, :s, count(*), 10 * count(*), 0, 0 FROM run HAVING count(*) > 0
    ON CONFLICT (project_id, shard) DO UPDATE
    SET n_task_runs = pc.n_task_runs + EXCLUDED.n_task_runs,
        answer_ms = pc.answer_ms + EXCLUDED.answer_ms
    RETURNING 1
), volunteer AS (
    INSERT INTO project_volunteer AS v (project_id, volunteer, user_id, anonymous, n_answers,
                                        first_answer, last_answer)
    SELECT {project}, {volunteer}, NULL, false, count(*), 'x', 'x'
    FROM run, counter HAVING count(*) > 0
    ON CONFLICT (project_id, volunteer) DO UPDATE
    SET n_answers = v.n_answers + EXCLUDED.n_answers, last_answer = EXCLUDED.last_answer
    RETURNING 1
), activity AS (
    INSERT INTO project_activity AS a (project_id, hour, shard, n_answers, n_anon, n_completed)
    SELECT {project}, 1, :s, count(*), 0, 0 FROM run, volunteer HAVING count(*) > 0
    ON CONFLICT (project_id, hour, shard) DO UPDATE SET n_answers = a.n_answers + EXCLUDED.n_answers
    RETURNING 1
)
SELECT run.id, run.task_id FROM run, activity;"""
    draws = "".join(f"\\set t{i} random({first}, {half})\n" for i in range(batch))
    (out / "batch.sql").write_text(draws + draw + " ".join(sql.split()) + "\n")
