// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// What the Redis example and benchmark start: a redis-server of their own
// and `worker.ts` processes. Kept out of the task modules, whose exports any
// writer to the stream could call.

/**
 * Starts a redis-server without persistence on a unix socket in `dir`.
 *
 * @returns Its `redis+unix://` URL and its process.
 */
export async function startRedis(
  dir: string,
): Promise<[string, Deno.ChildProcess]> {
  const socket = `${dir}/redis.sock`;
  const server = new Deno.Command("redis-server", {
    args: ["--port", "0", "--unixsocket", socket, "--save", "", "--dir", dir],
    stdout: "null",
    stderr: "null",
  }).spawn();
  for (let i = 0; i < 500; i++) {
    try {
      (await Deno.connect({ transport: "unix", path: socket })).close();
      return [`redis+unix://${socket}`, server];
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
  server.kill();
  throw new Error(`redis-server did not listen on ${socket} within 5 s`);
}

/** Starts `deno run -A worker.ts` and waits until it serves. */
export async function startWorker(
  url: string,
  name: string,
  module: string,
  flags: string[] = [],
): Promise<Deno.ChildProcess> {
  const worker = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../worker.ts", import.meta.url).pathname,
      "--broker",
      url,
      "--name",
      name,
      "--module",
      module,
      ...flags,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = worker.stdout.pipeThrough(new TextDecoderStream());
  const reader = lines.getReader();
  let seen = "";
  while (!seen.includes("serving")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("a worker exited before serving");
    seen += value;
  }
  reader.releaseLock();
  lines.pipeTo(new WritableStream()).catch(() => {});
  return worker;
}
