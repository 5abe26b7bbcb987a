"""A Python client generated from openapi.yaml (openapi-python-client, at test time) runs the
whole loop against a real server: sign up, create a project, import tasks, newtask, answer,
read the result, page with last_id, read stats and webhook deliveries, and get the error shape
on a bad request. A change to the spec that breaks the generated client breaks this test.

Run by `just e2e-generated` (TESSERA_BIN points at the built `tessera` binary)."""

import importlib
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

HERE = Path(__file__).parent
SPEC = HERE.parent / "openapi.yaml"


@pytest.fixture(scope="module")
def api():
    """The client package, generated now from the checked-in spec."""
    out = Path(tempfile.mkdtemp(prefix="tessera-generated-"))
    config = out / "config.yaml"
    # The formatter hooks (ruff) are not needed to run the client.
    config.write_text("post_hooks: []\n")
    subprocess.run(
        [str(Path(sys.executable).parent / "openapi-python-client"), "generate", "--path", str(SPEC),
         "--output-path", str(out / "tessera_client"), "--meta", "none", "--config", str(config)],
        check=True, capture_output=True, text=True)
    sys.path.insert(0, str(out))
    return importlib.import_module("tessera_client")


def module(api, path):
    return importlib.import_module(f"{api.__name__}.{path}")


def client(api, server, token=None):
    """A client that signs its requests with a bearer token, or an anonymous one."""
    base = server["base"] + "/api"
    if token is None:
        return api.Client(base_url=base, raise_on_unexpected_status=True)
    return api.AuthenticatedClient(base_url=base, token=token, raise_on_unexpected_status=True)


def sign_in(api, server, name, password):
    login = module(api, "api.auth.post_auth_login")
    models = module(api, "models")
    r = login.sync_detailed(client=client(api, server), body=models.LoginRequest(
        name=name, password=password))
    assert r.status_code == 200, r.content
    return client(api, server, r.parsed.access_token)


def test_the_whole_loop_through_the_generated_client(api, server):
    models = module(api, "models")
    call = lambda path: module(api, f"api.{path}")  # noqa: E731

    # Sign up a volunteer; the owner is the site's admin (made by the server fixture).
    r = call("auth.post_auth_register").sync_detailed(client=client(api, server), body=models.RegisterRequest(
        name="genvol", email_addr="genvol@example.org", password="generated password"))
    assert r.status_code == 200, r.content
    assert r.parsed.api_key
    owner = sign_in(api, server, "owner", "owner password")
    volunteer = sign_in(api, server, "genvol", "generated password")
    me = call("auth.get_auth_me").sync(client=volunteer)
    assert me.name == "genvol"

    # A project with tasks, published.
    project = call("project.post_project").sync(client=owner, body=models.Project(
        name="Generated", short_name="generated", description="Made by a generated client"))
    assert isinstance(project, models.Project), project
    tasks = []
    for i in range(5):
        task = call("task.post_task").sync(client=owner, body=models.Task(
            project_id=project.id, info={"i": i}, n_answers=1))
        assert isinstance(task, models.Task), task
        tasks.append(task.id)
    published = call("project.post_project_id_publish").sync(id=project.id, client=owner)
    assert published.published is True

    # The volunteer answers every task.
    answered = 0
    while True:
        r = call("volunteer.get_project_id_newtask").sync_detailed(id=project.id, client=volunteer)
        assert r.status_code == 200, r.content
        handed = r.parsed
        if not handed:
            break
        run = call("taskrun.post_taskrun").sync(client=volunteer, body=models.TaskRun(
            project_id=project.id, task_id=handed["id"], info="yes"))
        assert isinstance(run, models.TaskRun), run
        assert run.task_id == handed["id"]
        answered += 1
    assert answered == 5
    progress = call("volunteer.get_project_id_userprogress").sync(id=str(project.id), client=volunteer)
    assert (progress.done, progress.total, progress.remaining) == (5, 5, 0)

    # Results, with the majority answer.
    results = call("result.get_result").sync(client=owner, project_id=str(project.id), all_="1",
                                             limit="100")
    assert len(results) == 5
    assert all(r.info["aggregate"]["value"] == "yes" for r in results)

    # Keyset pagination with last_id walks every task once.
    seen, last = [], 0
    while True:
        page = call("task.get_task").sync(client=owner, project_id=str(project.id), all_="1",
                                          limit="2", last_id=str(last))
        if not page:
            break
        seen += [t.id for t in page]
        last = page[-1].id
    assert seen == tasks

    # Statistics and the webhook delivery log.
    stats = call("stats.get_projectstats_id").sync(id=project.id, client=owner)
    assert stats.n_tasks == 5 and stats.n_completed_tasks == 5
    settings = call("webhook.put_project_id_webhook").sync(id=project.id, client=owner, body=models.WebhookUpdate(
        url="https://hooks.example.org/generated"))
    assert settings.url == "https://hooks.example.org/generated"
    r = call("webhook.post_project_id_webhook_ping").sync_detailed(id=project.id, client=owner)
    assert r.status_code == 202, r.content
    deliveries = call("webhook.get_project_id_webhook_deliveries").sync(id=project.id, client=owner)
    assert [d.event for d in deliveries] == ["ping"]

    # Errors come in the documented shape, parsed as such.
    r = call("task.get_task_id").sync_detailed(id=999_999, client=owner)
    assert r.status_code == 404
    assert isinstance(r.parsed, models.ErrorBody)
    assert r.parsed.status == "failed" and r.parsed.exception_cls == "NotFound"
    bad = models.Task(project_id=project.id, info={})
    bad.additional_properties["bogus"] = 1
    r = call("task.post_task").sync_detailed(client=owner, body=bad)
    assert r.status_code == 415
    assert r.parsed.exception_cls == "TypeError" and r.parsed.target == "task"
