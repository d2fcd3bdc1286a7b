// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// Start method "subprocess": a separate OS process running `deno run`.
//
// The child's stdout and stderr are the parent's, as in Python. Its stdin
// carries the init frame and then stays open: end of stdin means the parent
// died, and the child exits (Deno has no PDEATHSIG). Calls from the child
// travel over a unix socket that the parent listens on while it has
// subprocess children; a child connects only when it first needs its parent.
// The parent removes the socket file once its last subprocess child is gone;
// if the parent is killed first, its children remove it as they exit.
import {
  type Backend,
  type ChildHandle,
  type InitMessage,
  SIGNAL_NUMBERS,
  type SpawnOptions,
} from "./_backend.ts";
import { decode, encode } from "./_codec.ts";
import { CallRouter, type UpMessage } from "./_runtime.ts";
import { FrameWriter, readFrames, writeAll } from "./_wire.ts";

const CHILD_URL = new URL("./_child.ts", import.meta.url).href;
/** A child opens its connection with its token, `crypto.randomUUID()` long. */
export const TOKEN_LENGTH = 36;

const PERMISSIONS = [
  "read",
  "write",
  "net",
  "env",
  "sys",
  "run",
  "ffi",
  "import",
] as const;

/** The parent's fully granted permissions, as `deno run` flags. */
export function inheritedFlags(): string[] {
  const flags: string[] = [];
  for (const name of PERMISSIONS) {
    try {
      const { state } = Deno.permissions.querySync({ name });
      if (state === "granted") flags.push(`--allow-${name}`);
    } catch {
      // A permission name this Deno does not know: nothing to inherit.
    }
  }
  return flags;
}

interface Attached {
  onConnect(conn: Deno.Conn): void;
  /** Resolves once the child's connections, if it made any, are closed. */
  closed(): Promise<void>;
}

/** The listener calls arrive on; open only while subprocess children live. */
class CallServer {
  readonly path: string;
  #listener: Deno.Listener;
  #children = new Map<string, Attached>();

  constructor() {
    this.path = socketPath();
    this.#listener = Deno.listen({ transport: "unix", path: this.path });
    this.#acceptLoop();
  }

  get size(): number {
    return this.#children.size;
  }

  attach(token: string, pid: number): Attached {
    // The child's own connection, and its blocking-call helper's.
    const connections: Promise<void>[] = [];
    const attached: Attached = {
      onConnect: (conn) => connections.push(serveCalls(conn, pid)),
      closed: async () => {
        let settled = 0;
        while (settled < connections.length) {
          settled = connections.length;
          await Promise.all(connections);
        }
      },
    };
    this.#children.set(token, attached);
    return attached;
  }

  detach(token: string): void {
    this.#children.delete(token);
  }

  close(): void {
    this.#listener.close();
    try {
      Deno.removeSync(this.path);
    } catch {
      // Already gone.
    }
  }

  async #acceptLoop(): Promise<void> {
    while (true) {
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
      } catch {
        return; // The listener was closed.
      }
      this.#handshake(conn);
    }
  }

  async #handshake(conn: Deno.Conn): Promise<void> {
    const header = new Uint8Array(TOKEN_LENGTH);
    let got = 0;
    try {
      while (got < header.length) {
        const n = await conn.read(header.subarray(got));
        if (n === null) break;
        got += n;
      }
    } catch {
      // Treated as a failed handshake below.
    }
    const token = new TextDecoder().decode(header.subarray(0, got));
    const child = this.#children.get(token);
    if (got < header.length || child === undefined) {
      conn.close();
      return;
    }
    child.onConnect(conn);
  }
}

function socketPath(): string {
  let dir = "/tmp";
  try {
    dir = Deno.env.get("TMPDIR") ?? dir;
  } catch {
    // No env permission: the default will do.
  }
  const random = crypto.randomUUID().slice(0, 8);
  return `${dir}/mp-${Deno.pid}-${random}.sock`;
}

async function serveCalls(conn: Deno.Conn, pid: number): Promise<void> {
  const writer = new FrameWriter((bytes) => writeAll(conn, bytes));
  const router = new CallRouter(pid, (answer) => writer.send(encode(answer)));
  try {
    await readFrames(
      conn,
      // Payloads are never reused: arguments may view them, uncopied.
      (payload) => router.receive(decode(payload, true) as UpMessage),
    );
  } catch {
    // The child died mid-frame; its exit is reported through its status.
  } finally {
    router.close();
    await writer.flushed();
    conn.close();
  }
}

async function sendInit(
  stdin: WritableStreamDefaultWriter<Uint8Array>,
  init: InitMessage,
): Promise<void> {
  const { pidCounter: _, ...portable } = init;
  const payload = encode(portable);
  const frame = new Uint8Array(4 + payload.length);
  new DataView(frame.buffer).setUint32(0, payload.length, true);
  frame.set(payload, 4);
  await stdin.write(frame);
}

let server: CallServer | null = null;

function exitCodeOf(status: Deno.CommandStatus): number {
  if (status.signal !== null) return -(SIGNAL_NUMBERS[status.signal] ?? 1);
  return status.code;
}

function spawn(init: InitMessage, options: SpawnOptions): ChildHandle {
  server ??= new CallServer();
  const calls = server;
  const token = crypto.randomUUID();
  const flags = options.denoFlags ?? inheritedFlags();
  const socketFlags = flags.includes("--allow-read") &&
      flags.includes("--allow-write")
    ? []
    : [`--allow-read=${calls.path}`, `--allow-write=${calls.path}`];
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...flags, ...socketFlags, CHILD_URL],
      stdin: "piped",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
  } catch (error) {
    if (calls.size === 0) {
      calls.close();
      server = null;
    }
    throw error;
  }
  const attached = calls.attach(token, child.pid);
  const stdin = child.stdin.getWriter();
  sendInit(stdin, { ...init, socket: calls.path, token }).catch(() => {
    // The child died before reading: its status says how.
  });
  const exited = child.status.then(async (status) => {
    await stdin.close().catch(() => {});
    await attached.closed();
    calls.detach(token);
    if (calls.size === 0 && server === calls) {
      calls.close();
      server = null;
    }
    return exitCodeOf(status);
  });
  const signal = (name: Deno.Signal) => {
    try {
      child.kill(name);
    } catch {
      // It has already exited.
    }
  };
  return {
    pid: child.pid,
    exited,
    terminate: () => signal("SIGTERM"),
    kill: () => signal("SIGKILL"),
  };
}

/** The subprocess start method. */
export const subprocessBackend: Backend = { method: "subprocess", spawn };
