// A throwaway PostgreSQL server for end-to-end tests that run more than one BFF on one
// database: Debian's server binaries (`cargo xtask test` installs them), a fresh cluster in a
// temporary folder, listening on 127.0.0.1 only, without fsync (the data is thrown away).
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.mjs";
import { readyLine } from "./ready.mjs";

/** `/usr/lib/postgresql/<newest major>/bin`. */
function binDir() {
  const root = "/usr/lib/postgresql";
  const majors = existsSync(root) ? readdirSync(root).filter((d) => existsSync(join(root, d, "bin", "initdb"))) : [];
  majors.sort((a, b) => Number(a) - Number(b));
  if (!majors.length) throw new Error(`no PostgreSQL server in ${root}/<version>/bin: run the tests with \`cargo xtask test\`, which installs it`);
  return join(root, majors.at(-1), "bin");
}

/** Starts the server; resolves to `{ url, close() }` once it accepts connections. initdb
 * refuses to run as root, so as root the server runs as Debian's `postgres` user. */
export async function startPostgres() {
  const bin = binDir();
  const dir = mkdtempSync(join(tmpdir(), "tessera-e2e-pg-"));
  const root = process.getuid?.() === 0;
  const asServer = (program, args) =>
    root ? ["setpriv", ["--reuid=postgres", "--regid=postgres", "--init-groups", "--", program, ...args]] : [program, args];
  if (root) execFileSync("chown", ["-R", "postgres:postgres", dir]);
  const data = join(dir, "data");
  const [initdb, initArgs] = asServer(join(bin, "initdb"), ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"]);
  execFileSync(initdb, initArgs, { stdio: "pipe" });
  const port = await freePort();
  const [postgres, args] = asServer(join(bin, "postgres"), [
    "-D", data, "-k", dir, "-h", "127.0.0.1", "-p", String(port),
    "-c", "max_connections=200", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
  ]);
  const child = spawn(postgres, args, { stdio: ["ignore", "ignore", "pipe"] });
  await readyLine(child, child.stderr, /ready to accept connections/, "PostgreSQL");
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    close: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGQUIT");
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
