// Waiting for a child process to say it is ready, by a line it prints.

/**
 * Resolves to the first match of `pattern` in what `stream` (the `child`'s stdout or stderr)
 * prints. Rejects, naming `what` and quoting what was printed, if the child exits first or
 * nothing matches within `ms`; the child is then killed and the stream let go, so a failed
 * start leaves nothing that keeps the test process alive.
 *
 * The deadline is judged after one more turn of I/O: a machine that stalls (a paused VM, a
 * starved CI host) wakes up with its timers already due and the line perhaps waiting in the
 * pipe, and a line that was printed in time must not be reported as missing. Afterwards the
 * stream keeps being drained, so the child never blocks on a full pipe.
 */
export function readyLine(child, stream, pattern, what, ms = 60_000) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    let seen = "";
    let settled = false;
    const settle = () => {
      settled = true;
      clearTimeout(timer);
      stream.off("data", onData);
      child.off("exit", onExit);
      stream.resume();
    };
    const fail = (why) => {
      if (settled) return;
      settle();
      child.kill();
      stream.destroy(); // Its grandchildren may hold the pipe open: this end lets go.
      reject(new Error(`${what} ${why}; it printed: ${seen.trim().slice(-2000) || "(nothing)"}`));
    };
    const onData = (chunk) => {
      seen += chunk;
      const m = seen.match(pattern);
      if (m && !settled) {
        settle();
        resolve(m);
      }
    };
    const onExit = (code, signal) => fail(`exited (${signal ?? `code ${code}`}) before it was ready`);
    const timer = setTimeout(() => setImmediate(() => fail(`was not ready after ${Date.now() - started} ms`)), ms);
    stream.setEncoding("utf8");
    stream.on("data", onData);
    child.on("exit", onExit);
  });
}
