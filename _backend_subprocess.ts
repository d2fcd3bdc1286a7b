// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// Start method "subprocess": a separate OS process running `deno run`.
//
// One ordered channel per child. The child's main thread writes its calls
// on its own connection, batched per tick. A blocking call cannot wait for
// that thread's event loop (it sleeps until the answer comes), so a helper
// worker carries it over a second connection, together with a copy of every
// frame the main connection may not have written yet; the parent applies
// frames by their place on the main connection, each once, whichever
// connection brings it first, so nothing is overtaken or applied twice.
// The child's end is a `DirectLink` and the parent's listener a
// `DirectServer` of its children (`_direct.ts`): the link any process has to
// a manager's server; `ChildLink` below is the parent's end of both.
//
// The child's stdout and stderr are the parent's, as in Python. Its stdin
// carries the init frame and then stays open: end of stdin means the parent
// died, and the child exits (Deno has no PDEATHSIG). Calls from the child
// travel over a unix socket that the parent listens on while it has
// subprocess children; a child connects only when it first needs its parent.
// The parent removes the socket file once its last subprocess child is gone;
// if the parent is killed first, its children remove it as they exit.
import {
  allowed,
  type ChildSide,
  type InitMessage,
  type Spawn,
} from "./_backend.ts";
import { decode, encode } from "./_codec.ts";
import { DirectLink, DirectServer } from "./_direct.ts";
import { readEach, RingOutbox, type RingPair } from "./_ring_link.ts";
import {
  CallRouter,
  type Reply,
  type ReturnMessage,
  type UpMessage,
} from "./_runtime.ts";
import {
  BLOCKING,
  type BlockingFrame,
  MAIN,
  readFrames,
  writeAll,
} from "./_wire.ts";
import { FrameWriter } from "./_feeder.ts";
import { shareTable } from "./_isolates.ts";
import { closeQuietly, removeSocket } from "./_util.ts";

const CHILD_URL = new URL("./_child.ts", import.meta.url).href;

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
  const granted = PERMISSIONS.filter((name) => allowed({ name }));
  return granted.map((name) => `--allow-${name}`);
}

const SHORT_FLAGS: Record<string, string> = {
  read: "-R",
  write: "-W",
  net: "-N",
};

/**
 * `flags` with access added for `paths` (the socket a child calls back on)
 * where they do not grant it already: a scoped grant is extended rather than overridden, since the last
 * `--allow-read=…` given is the one Deno keeps.
 */
export function withAccess(
  flags: readonly string[],
  paths: Record<"read" | "write" | "net", string[]>,
): string[] {
  const result = [...flags];
  if (result.includes("-A") || result.includes("--allow-all")) return result;
  for (const [name, extra] of Object.entries(paths)) {
    const long = `--allow-${name}`;
    const short = SHORT_FLAGS[name]!;
    if (result.includes(long) || result.includes(short)) continue;
    const scoped = result.findLastIndex((flag) =>
      flag.startsWith(`${long}=`) || flag.startsWith(`${short}=`)
    );
    if (scoped < 0) result.push(`${long}=${extra.join(",")}`);
    else result[scoped] = `${result[scoped]},${extra.join(",")}`;
  }
  return result;
}

/**
 * The parent's end of one child's channel: applies the frames of the main
 * connection in order, and each blocking call once everything the child sent
 * before it is applied (see the module comment).
 */
export class ChildLink {
  #router: CallRouter;
  #main = Promise.withResolvers<Deno.Conn>();
  #mainConnected = false;
  /** Answers to calls made on the main connection. */
  #answers: FrameWriter;
  /** Frames read on the main connection, and applied (from either). */
  #read = 0;
  #applied = 0;
  #blocked: [BlockingFrame, Reply][] = [];
  #serving: Promise<void>[] = [];
  #limit: number;
  /** The connections open: while any, the child is alive. */
  #conns = new Set<Deno.Conn>();
  /** Where answers to main calls go when the child sends over rings. */
  #ringAnswers: RingOutbox | null = null;
  #rings: RingPair | null = null;
  #held = true;

  /**
   * @param pid The pid of the child served.
   * @param limit The largest frame accepted from it.
   */
  constructor(pid: number, limit = Infinity) {
    this.#limit = limit;
    this.#answers = new FrameWriter(async (bytes) =>
      writeAll(await this.#main.promise, bytes)
    );
    this.#router = new CallRouter(
      pid,
      (answer) => (this.#ringAnswers ?? this.#answers).send(encode(answer)),
    );
  }

  /** Whether the child sends over rings (see `attachRings`). */
  get hasRings(): boolean {
    return this.#rings !== null;
  }

  /**
   * Serves the calls the child sends over `rings` instead of its main
   * connection (`_ring_link.ts`), until its connections are closed and the
   * ring is read to its end.
   */
  attachRings(rings: RingPair): void {
    if (this.hasRings) return;
    this.#rings = rings;
    this.#ringAnswers = new RingOutbox(rings.down);
    this.#serving.push(
      readEach(
        rings.up,
        (payload) => this.#onMain(payload),
        () => this.#conns.size === 0,
      ).catch((error) => console.error(error)),
    );
  }

  onConnect(role: string, conn: Deno.Conn): void {
    this.#conns.add(conn);
    if (!this.#held) conn.unref();
    if (role === MAIN && !this.#mainConnected) {
      this.#mainConnected = true;
      this.#main.resolve(conn);
      this.#serving.push(this.#serve(conn, (payload) => this.#onMain(payload)));
    } else if (role === BLOCKING) {
      const writer = new FrameWriter((bytes) => writeAll(conn, bytes));
      const reply = (answer: ReturnMessage) => writer.send(encode(answer));
      const onFrame = (payload: Uint8Array) => {
        this.#blocked.push([decode(payload, true) as BlockingFrame, reply]);
        this.#unblock();
      };
      this.#serving.push(
        this.#serve(conn, onFrame)
          .then(() => writer.flushed())
          .catch(() => {})
          .finally(() => closeQuietly(conn)),
      );
    } else {
      conn.close();
    }
  }

  /** Resolves once the child's connections, if it made any, are closed. */
  async closed(): Promise<void> {
    let settled = 0;
    while (settled < this.#serving.length) {
      settled = this.#serving.length;
      await Promise.all(this.#serving);
    }
    this.#router.close();
    this.#ringAnswers?.close();
    if (this.#mainConnected) {
      await this.#answers.flushed().catch(() => {});
      closeQuietly(await this.#main.promise);
    }
  }

  /** Whether reading the child's calls keeps this program running. */
  hold(held: boolean): void {
    this.#held = held;
    for (const conn of this.#conns) held ? conn.ref() : conn.unref();
  }

  /** Drops the child's connections at once (its server is going away). */
  abort(): void {
    for (const conn of this.#conns) closeQuietly(conn);
  }

  async #serve(
    conn: Deno.Conn,
    onFrame: (payload: Uint8Array) => void,
  ): Promise<void> {
    try {
      await readFrames(conn, onFrame, this.#limit);
    } catch (error) {
      // A frame over the limit ends this peer's connection (nothing it sent
      // after can be trusted to line up); the link closes it. A child that died mid-frame has its
      // exit reported through its status.
      if (error instanceof RangeError) console.error(error);
    } finally {
      this.#conns.delete(conn);
      if (this.#conns.size === 0) this.#rings?.up.wakeReaders();
    }
  }

  #onMain(payload: Uint8Array): void {
    this.#applyAt(++this.#read, payload);
    this.#unblock();
  }

  /** Applies the frame at `place` on the main connection, unless already applied. */
  #applyAt(place: number, payload: Uint8Array): void {
    // Already applied from a copy a blocking call brought, or from the main
    // connection before the copy came.
    if (place <= this.#applied) return;
    this.#applied = place;
    // Payloads are never reused: arguments may view them, uncopied.
    this.#router.receive(decode(payload, true) as UpMessage);
  }

  /** Applies the blocking calls whose predecessors have all arrived. */
  #unblock(): void {
    while (this.#blocked.length > 0) {
      const [frame, reply] = this.#blocked[0]!;
      if (this.#applied < frame.w) return;
      this.#blocked.shift();
      frame.r.forEach((payload, i) => this.#applyAt(frame.w + 1 + i, payload));
      this.#router.receive(frame.m, reply);
    }
  }
}

/** The children served, by the token each connects with. */
const children = new Map<string, ChildLink>();
/**
 * The server calls arrive on, open only while subprocess children live. A
 * held child keeps the program running by itself: the server never does.
 */
let server: DirectServer | null = null;

/**
 * Stops serving the child `token`; once no child is left, the server and
 * its socket file go.
 */
function release(token: string): void {
  children.delete(token);
  if (children.size > 0 || server === null) return;
  server.close();
  server = null;
}

/** Starts a child under the subprocess start method. */
export const spawnSubprocess: Spawn = (init, options) => {
  if (server === null) {
    server = new DirectServer(
      { transport: "unix" },
      Infinity,
      (token) => children.get(token),
    );
    server.hold(false);
  }
  const path = server.address.path!;
  const token = crypto.randomUUID();
  // What the child's link to this process needs, whatever else it may do.
  const flags = withAccess(options.denoFlags ?? inheritedFlags(), {
    read: [path],
    write: [path],
    net: [`unix:${path}`],
  });
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...flags, CHILD_URL],
      stdin: "piped",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
  } catch (error) {
    release(token);
    throw error;
  }
  const attached = new ChildLink(child.pid);
  children.set(token, attached);
  const stdin = child.stdin.getWriter();
  const isolates = shareTable(child.pid, false);
  const info = { ...init.info, pid: child.pid };
  const message = { ...init, info, socket: path, token };
  if (isolates !== null) message.isolates = isolates;
  // A child that dies before reading it has its status say how.
  new FrameWriter((bytes) => stdin.write(bytes)).send(encode(message));
  const exited = child.status.then(async (status) => {
    await stdin.close().catch(() => {});
    await attached.closed();
    release(token);
    // Deno reports a signal's death as the shell does, 128 + its number;
    // Python reports minus the number.
    return status.signal === null ? status.code : 128 - status.code;
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
    hold(held) {
      try {
        held ? child.ref() : child.unref();
      } catch {
        // It has exited, and Deno has closed its handle: nothing to hold.
      }
      attached.hold(held);
    },
  };
};

// Captured before the child entry wraps `Deno.exit`.
const realExit = Deno.exit;

/** The subprocess start method's half inside the child. */
export const subprocessChild: ChildSide = {
  receiveInit() {
    const { promise, resolve } = Promise.withResolvers<InitMessage>();
    // After the init frame, stdin stays open until the parent dies.
    let socket: string | undefined;
    readFrames(Deno.stdin, (payload) => {
      const init = decode(payload) as InitMessage;
      socket = init.socket;
      resolve(init);
    })
      .catch(() => {})
      .finally(() => {
        // The parent died (perhaps SIGKILLed, unable to clean up): its
        // socket file would stay in the temporary directory.
        removeSocket(socket);
        realExit(1);
      });
    return promise;
  },
  link: (init) =>
    new DirectLink(
      { transport: "unix", path: init.socket!, limit: Infinity },
      { token: init.token!, parent: true },
    ),
  // The OS reports its exit code.
  reportExit() {},
};
