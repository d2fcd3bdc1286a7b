// Starts a real redis-server for the tests, on a unix socket in a temporary
// directory; installs it with apt-get when missing and running as root.
import { TIMEOUT } from "./_helpers.ts";

const CANDIDATES = ["/usr/bin/redis-server", "/usr/sbin/redis-server"];

function findOnPath(): string | null {
  const path = Deno.env.get("PATH") ?? "";
  for (
    const dir of [
      ...path.split(":"),
      ...CANDIDATES.map((c) => c.replace(/\/[^/]+$/, "")),
    ]
  ) {
    const candidate = `${dir}/redis-server`;
    try {
      if (Deno.statSync(candidate).isFile) return candidate;
    } catch {
      // Not there.
    }
  }
  return null;
}

let found: Promise<string> | null = null;

/** The path of redis-server, installed first when missing and root. */
export function redisServerPath(): Promise<string> {
  found ??= (async () => {
    const path = findOnPath();
    if (path !== null) return path;
    if (Deno.uid() !== 0) {
      throw new Error(
        "Cannot run the Redis tests as redis-server is not installed: run `sudo apt-get install -y redis-server` (Debian, Ubuntu) or put redis-server on PATH",
      );
    }
    for (
      const args of [["install", "-y", "redis-server"], ["update"], [
        "install",
        "-y",
        "redis-server",
      ]]
    ) {
      const { code } = await new Deno.Command("apt-get", {
        args,
        stdout: "null",
        stderr: "null",
        env: { DEBIAN_FRONTEND: "noninteractive" },
        signal: AbortSignal.timeout(300_000),
      }).output();
      if (code === 0 && args[0] === "install") break;
    }
    const installed = findOnPath();
    if (installed === null) {
      throw new Error(
        "Cannot run the Redis tests as `apt-get install -y redis-server` did not install redis-server: install it by hand",
      );
    }
    return installed;
  })();
  return found;
}

/** A redis-server of the tests'. */
export interface RedisServer extends AsyncDisposable {
  /** `redis+unix:///…/redis.sock`. */
  readonly url: string;
  readonly socket: string;
  readonly dir: string;
  /** Stops it (SIGTERM), waiting for the exit. */
  stop(): Promise<void>;
  /** Starts it again on the same socket (after `stop`). */
  start(): Promise<void>;
}

async function waitForSocket(path: string, until: number): Promise<void> {
  for (;;) {
    try {
      const conn = await Deno.connect({ transport: "unix", path });
      conn.close();
      return;
    } catch (error) {
      if (performance.now() > until) {
        throw new Error(`redis-server did not listen on ${path} in time`, {
          cause: error,
        });
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

/**
 * Starts a redis-server without persistence on a fresh unix socket, with
 * `extraArgs` (such as `--user …`) after the defaults.
 */
export async function startRedis(
  extraArgs: readonly string[] = [],
): Promise<RedisServer> {
  const binary = await redisServerPath();
  const dir = await Deno.makeTempDir({ prefix: "mp-redis-" });
  const socket = `${dir}/redis.sock`;
  let child: Deno.ChildProcess | null = null;
  const start = async () => {
    child = new Deno.Command(binary, {
      args: [
        "--port",
        "0",
        "--unixsocket",
        socket,
        "--unixsocketperm",
        "777",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        dir,
        "--logfile",
        `${dir}/redis.log`,
        ...extraArgs,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const exited = child.status.then(({ code }) => {
      throw new Error(
        `redis-server exited with code ${code} before it listened: see ${dir}/redis.log`,
      );
    });
    await Promise.race([
      waitForSocket(socket, performance.now() + TIMEOUT),
      exited,
    ]);
    exited.catch(() => {});
  };
  const stop = async () => {
    const running = child;
    if (running === null) return;
    child = null;
    try {
      running.kill("SIGTERM");
    } catch {
      // Gone already.
    }
    const timer = setTimeout(() => {
      try {
        running.kill("SIGKILL");
      } catch {
        // Gone.
      }
    }, 5_000);
    await running.status;
    clearTimeout(timer);
  };
  await start();
  return {
    url: `redis+unix://${socket}`,
    socket,
    dir,
    start,
    async stop() {
      await stop();
    },
    async [Symbol.asyncDispose]() {
      await stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  } as RedisServer & AsyncDisposable;
}
