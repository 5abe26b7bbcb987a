// A TypeScript client generated from openapi.yaml at test time (openapi-typescript types with
// openapi-fetch) runs the whole loop against a real server. The test is type-checked against the
// generated types before it runs, so a spec change that breaks a client (an operation, a
// parameter or a field gone or renamed) breaks the build.
//
// Run by `just e2e-generated` (TESSERA_BIN points at the built `tessera` binary).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import createClient from "openapi-fetch";
import type { components, paths } from "./generated/schema.js";
import { startServer } from "./server.mjs";

type Task = components["schemas"]["Task"];
type ErrorBody = components["schemas"]["ErrorBody"];

let base = "";
let stop: (() => void) | undefined;

before(async () => {
  ({ base, stop } = await startServer({ secret: "generated" }));
});

after(() => stop?.());

/** A client for the API, signed in with a bearer token when one is given. */
function api(token?: string) {
  return createClient<paths>({
    baseUrl: base + "/api",
    headers: token ? { Authorization: `Bearer ${token}` } : {},
  });
}

async function signUp(name: string): Promise<string> {
  const password = "typed password";
  const created = await api().POST("/auth/register", {
    body: { name, email_addr: `${name}@example.org`, password },
  });
  assert.equal(created.response.status, 200, JSON.stringify(created.error));
  assert.ok(created.data?.api_key);
  const login = await api().POST("/auth/login", { body: { name, password } });
  assert.ok(login.data, JSON.stringify(login.error));
  return login.data.access_token;
}

test("the whole loop through the generated TypeScript client", async () => {
  const owner = api(await signUp("typedowner"));
  const volunteer = api(await signUp("typedvol"));
  const me = await volunteer.GET("/auth/me");
  assert.equal(me.data?.name, "typedvol");

  // The first account is the site's admin: it makes a category, then the project.
  const category = await owner.POST("/category", {
    body: { name: "Typed", short_name: "typed", description: "d" },
  });
  assert.ok(category.data?.id, JSON.stringify(category.error));
  const project = await owner.POST("/project", {
    body: { name: "Typed project", short_name: "typedp", description: "From TypeScript" },
  });
  const projectId = project.data?.id;
  assert.ok(projectId, JSON.stringify(project.error));
  const tasks: number[] = [];
  for (let i = 0; i < 5; i++) {
    const body: Task = { project_id: projectId, info: { i }, n_answers: 1 };
    const t = await owner.POST("/task", { body });
    assert.ok(t.data?.id, JSON.stringify(t.error));
    tasks.push(t.data.id);
  }
  const published = await owner.POST("/project/{id}/publish", { params: { path: { id: projectId } } });
  assert.equal(published.data?.published, true);

  // The volunteer answers every task.
  const answerOne = async (): Promise<boolean> => {
    const handed = await volunteer.GET("/project/{id}/newtask", { params: { path: { id: projectId } } });
    assert.equal(handed.response.status, 200);
    const task = handed.data as { id?: number } | undefined;
    if (!task?.id) return false;
    const run = await volunteer.POST("/taskrun", {
      body: { project_id: projectId, task_id: task.id, info: "yes" },
    });
    assert.equal(run.data?.task_id, task.id, JSON.stringify(run.error));
    return true;
  };
  let answered = 0;
  while (await answerOne()) answered++;
  assert.equal(answered, 5);
  const progress = await volunteer.GET("/project/{id}/userprogress", {
    params: { path: { id: String(projectId) } },
  });
  assert.deepEqual(progress.data, { done: 5, total: 5, remaining: 0 });

  // Results, with the majority answer.
  const results = await owner.GET("/result", {
    params: { query: { project_id: String(projectId), all: "1", limit: "100" } },
  });
  assert.equal(results.data?.length, 5);
  for (const r of results.data ?? []) {
    const info = r.info as { aggregate?: { value?: unknown } } | undefined;
    assert.equal(info?.aggregate?.value, "yes");
  }

  // Keyset pagination with last_id walks every task once.
  const seen: number[] = [];
  let last = 0;
  for (;;) {
    const page = await owner.GET("/task", {
      params: { query: { project_id: String(projectId), all: "1", limit: "2", last_id: String(last) } },
    });
    const rows = page.data ?? [];
    if (rows.length === 0) break;
    for (const row of rows) if (row.id) seen.push(row.id);
    last = rows[rows.length - 1]?.id ?? last;
  }
  assert.deepEqual(seen, tasks);

  // Statistics and the webhook delivery log.
  const stats = await owner.GET("/projectstats/{id}", { params: { path: { id: projectId } } });
  assert.equal(stats.data?.n_completed_tasks, 5);
  const hook = await owner.PUT("/project/{id}/webhook", {
    params: { path: { id: projectId } },
    body: { url: "https://hooks.example.org/typed" },
  });
  assert.equal(hook.data?.url, "https://hooks.example.org/typed");
  const ping = await owner.POST("/project/{id}/webhook/ping", { params: { path: { id: projectId } } });
  assert.equal(ping.response.status, 202);
  const deliveries = await owner.GET("/project/{id}/webhook/deliveries", {
    params: { path: { id: projectId } },
  });
  assert.deepEqual(deliveries.data?.map((d) => d.event), ["ping"]);

  // Errors come in the documented shape.
  const missing = await owner.GET("/task/{id}", { params: { path: { id: 999_999 } } });
  assert.equal(missing.response.status, 404);
  const error: ErrorBody | undefined = missing.error;
  assert.equal(error?.status, "failed");
  assert.equal(error?.exception_cls, "NotFound");
  const bad = await owner.POST("/task", {
    body: { project_id: projectId, info: {}, bogus: 1 } as Task,
  });
  assert.equal(bad.response.status, 415);
  assert.equal(bad.error?.exception_cls, "TypeError");
});
