"""The real PYBOSSA clients (pybossa-client, pbs, enki from PyPI, unchanged) against a running
Tessera server: what a PYBOSSA user does from the command line and from Python.

Run by `just e2e-clients` (TESSERA_BIN points at the built `tessera` binary)."""

import csv
import json
import subprocess
import tempfile
from pathlib import Path

import requests

from conftest import register

HERE = Path(__file__).parent


def pbs(server, workdir, *args, stdin=None):
    cmd = [str(HERE / ".venv-clients/bin/pbs"), "--server", server["base"], "--api-key", server["key"],
           "--project", "project.json", *args]
    out = subprocess.run(cmd, cwd=workdir, input=stdin, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout + out.stderr


def volunteer_answers(server, project_id, api_key, answer):
    """What pybossa.js does: newtask, then POST the answer; until nothing is left."""
    n = 0
    while True:
        task = requests.get(f"{server['base']}/api/project/{project_id}/newtask",
                            params={"api_key": api_key}).json()
        if not task.get("id"):
            return n
        r = requests.post(f"{server['base']}/api/taskrun?api_key={api_key}", json={
            "project_id": task["project_id"], "task_id": task["id"], "info": answer})
        assert r.status_code == 200, r.text
        n += 1


def test_pbs_project_lifecycle(server):
    import pbclient

    work = tempfile.mkdtemp()
    Path(work, "project.json").write_text(json.dumps(
        {"name": "Birds", "short_name": "birds", "description": "Count the birds"}))
    out = pbs(server, work, "create-project")
    assert "created" in out.lower(), out
    # A second create is reported as "already exists" (DBIntegrityError on target project).
    again = subprocess.run([str(HERE / ".venv-clients/bin/pbs"), "--server", server["base"], "--api-key",
                            server["key"], "--project", "project.json", "create-project"],
                           cwd=work, capture_output=True, text=True)
    assert "already exists" in (again.stdout + again.stderr).lower(), again.stdout + again.stderr

    with open(Path(work, "tasks.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["url", "kind"])
        for i in range(5):
            w.writerow([f"https://example.org/{i}.jpg", "csv"])
    Path(work, "tasks.json").write_text(json.dumps([{"url": f"https://example.org/j{i}.jpg", "kind": "json"}
                                                    for i in range(3)]))
    pbs(server, work, "add-tasks", "--tasks-file", "tasks.csv", "--tasks-type", "csv", "--redundancy", "3")
    pbs(server, work, "add-tasks", "--tasks-file", "tasks.json", "--tasks-type", "json")

    Path(work, "template.html").write_text("<div id='presenter'>Is there a bird?</div>")
    Path(work, "long_description.md").write_text("# Birds\nCount them.")
    Path(work, "results.html").write_text("<div>results</div>")
    Path(work, "tutorial.html").write_text("<div>tutorial</div>")
    pbs(server, work, "update-project", "--task-presenter", "template.html",
        "--long-description", "long_description.md")

    pbclient.set("endpoint", server["base"])
    pbclient.set("api_key", server["key"])
    project = pbclient.find_project(short_name="birds")[0]
    assert project.info["task_presenter"].startswith("<div id='presenter'>")
    assert project.long_description.startswith("# Birds")
    tasks = pbclient.get_tasks(project.id, limit=100)
    assert len(tasks) == 8
    assert sorted(t.info["kind"] for t in tasks) == ["csv"] * 5 + ["json"] * 3
    assert {t.n_answers for t in tasks if t.info["kind"] == "csv"} == {3}

    # Redundancy for all tasks (asks for confirmation), then for one task.
    pbs(server, work, "update-task-redundancy", "--redundancy", "2", stdin="y\n")
    assert {t.n_answers for t in pbclient.get_tasks(project.id, limit=100)} == {2}
    pbs(server, work, "update-task-redundancy", "--task-id", str(tasks[0].id), "--redundancy", "1")
    assert pbclient.find_tasks(project.id, id=tasks[0].id)[0].n_answers == 1

    pbs(server, work, "delete-tasks", "--task-id", str(tasks[-1].id))
    assert len(pbclient.get_tasks(project.id, limit=100)) == 7


def test_pbclient_crud_and_volunteers_then_enki(server):
    import enki
    import pandas as pd
    import pbclient

    pbclient.set("endpoint", server["base"])
    pbclient.set("api_key", server["key"])
    project = pbclient.create_project("Flowers", "flowers", "Which flower?")
    assert project.id
    project_id = project.id
    project.description = "Which flower is it?"
    updated = pbclient.update_project(project)
    assert updated.description == "Which flower is it?"
    # (update_project strips reserved keys, id included, from the object it is given.)
    project = pbclient.get_project(project_id)
    assert project.description == "Which flower is it?"
    created = [pbclient.create_task(project.id, {"image": f"f{i}.png"}, n_answers=2) for i in range(4)]
    assert all(t.id for t in created)
    task = created[0]
    task_id = task.id
    task.n_answers = 2
    assert pbclient.update_task(task).id == task_id
    found = pbclient.find_tasks(project.id, id=created[1].id)
    assert [t.id for t in found] == [created[1].id]

    # Keyset and offset pagination as the clients walk them.
    assert [t.id for t in pbclient.get_tasks(project.id, limit=2, last_id=created[1].id)] == \
        [created[2].id, created[3].id]
    assert [t.id for t in pbclient.get_tasks(project.id, limit=2, offset=2)] == [created[2].id, created[3].id]

    # Helping material with a file: a multipart POST whose media_url serves the bytes back.
    png = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489")
    path = Path(tempfile.mkdtemp(), "help.png")
    path.write_bytes(png)
    hm = pbclient.create_helpingmaterial(project.id, {"caption": "a rose"}, file_path=str(path))
    assert hm.id, hm
    assert requests.get(hm.media_url).content == png

    # A fresh site has its first category from its first start, as PYBOSSA's does.
    categories = pbclient.get_categories()
    assert [c.short_name for c in categories] == ["general", "science"]

    # A draft is its owners' alone: volunteers get nothing until it is published.
    outsider = register(server, "outsider")
    r = requests.get(f"{server['base']}/api/project/{project.id}/newtask", params={"api_key": outsider})
    assert r.status_code == 403, r.text
    r = requests.post(f"{server['base']}/api/project/{project.id}/publish", params={"api_key": server["key"]})
    assert r.status_code == 200, r.text

    # Two volunteers answer every task (the server completes them and forms results).
    for name, answer in [("ann", "rose"), ("ben", "rose")]:
        key = register(server, name)
        assert volunteer_answers(server, project.id, key, {"flower": answer}) == 4
    results = pbclient.get_results(project.id, limit=100)
    assert len(results) == 4
    assert all(r.info["aggregate"]["fields"]["flower"]["value"] == "rose" for r in results)
    results[0].info = {"analysed": True}
    assert pbclient.update_result(results[0]).info == {"analysed": True}

    # enki: tasks and task runs into pandas; results alongside.
    e = enki.Enki(api_key=server["key"], endpoint=server["base"], project_short_name="flowers", all=1)
    e.get_all()
    assert len(e.tasks) == 4
    assert len(e.tasks_df) == 4
    runs = sum(len(e.task_runs[t.id]) for t in e.tasks)
    assert runs == 8
    assert set(e.task_runs_df[e.tasks[0].id]["flower"]) == {"rose"}
    results_df = pd.DataFrame([r.data for r in pbclient.get_results(project.id, limit=100)])
    assert len(results_df) == 4

    # Deleting a task that has a result is refused to owners (PYBOSSA's rule), allowed to admins:
    # the first account is the admin here.
    assert pbclient.delete_task(created[3].id) is True
    assert pbclient.find_tasks(project.id, id=created[3].id) == []
