// A real `tessera` server for the outside-in tests: SQLite in a fresh data folder, on a free
// port, ready when this resolves. Shared by the browser tests and the generated client's test.

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
    s.on("error", fail);
  });
}

/**
 * Starts the server binary (`TESSERA_BIN`, else the debug build).
 * @param {{ webDir?: string, secret?: string, rateLimit?: string | null }} [options]
 *   `rateLimit: null` keeps the server's default limit (tests otherwise turn it off).
 * @returns {Promise<{ base: string, dataDir: string, stop: () => void }>}
 */
export async function startServer(options = {}) {
  const bin = process.env.TESSERA_BIN ?? resolve(here, "../target/debug/tessera");
  const dataDir = mkdtempSync(join(tmpdir(), "tessera-e2e-"));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const server = spawn(bin, ["serve"], {
    env: {
      PATH: process.env.PATH,
      TESSERA_ADDR: `127.0.0.1:${port}`,
      TESSERA_DATA_DIR: dataDir,
      TESSERA_WEB_DIR: options.webDir ?? join(dataDir, "none"),
      TESSERA_SECRET: options.secret ?? "e2e",
      ...(options.rateLimit === null ? {} : { TESSERA_RATE_LIMIT: options.rateLimit ?? "0" }),
      RUST_LOG: "warn",
    },
    stdio: ["ignore", "inherit", "inherit"],
  });
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(base + "/health/ready")).ok) break;
    } catch {}
    if (i > 200) throw new Error("the server did not start");
    await new Promise((r) => setTimeout(r, 100));
  }
  const stop = () => {
    server.kill("SIGTERM");
    rmSync(dataDir, { recursive: true, force: true });
  };
  return { base, dataDir, stop };
}
