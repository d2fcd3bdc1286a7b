import {
  assert,
  assertEquals,
  assertMatch,
  assertNotEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { deadline } from "@std/async/deadline";
import { delay } from "@std/async/delay";
import {
  activeChildren,
  cpuCount,
  currentProcess,
  getStartMethod,
  Process,
  type ProcessInfo,
  setStartMethod,
} from "../process.ts";
import { Recorder } from "./testdata/recorder.ts";
import {
  exitsWith,
  fails,
  hello,
  leavesRejection,
  leavesTimer,
  notExportedCaller,
  recordCountSync,
  recordDeep,
  recordSelf,
  recordTwiceSameObject,
  recordWithoutAwait,
  rejects,
  setsExitCode,
  sleepsForever,
  startsGrandchild,
} from "./testdata/targets.ts";
import {
  runDeno,
  START_METHODS,
  TARGETS,
  TIMEOUT,
  waitUntilGone,
} from "./_helpers.ts";

const RUN_CHILD = new URL("./testdata/run_child.ts", import.meta.url).pathname;

function socketFiles(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((entry) => entry.name);
}

for (const startMethod of START_METHODS) {
  const spawn = <A extends unknown[]>(
    target: (...args: A) => unknown,
    args?: A,
  ) => {
    const options = { target, module: TARGETS, startMethod };
    return new Process(args === undefined ? options : { ...options, args });
  };

  Deno.test(`Process.join() resolves with 0 after the target returns (${startMethod})`, async () => {
    const recorder = new Recorder();
    const child = spawn(recordSelf, [recorder]);
    assertEquals(child.isAlive(), false);
    child.start();
    assert(child.isAlive());
    assertEquals(await child.join({ timeout: TIMEOUT }), 0);
    assertEquals(child.exitCode, 0);
    assertEquals(child.isAlive(), false);
    const [seen] = await recorder.values() as ProcessInfo[];
    assertEquals(seen?.name, child.name);
    assertEquals(seen?.pid, child.pid);
    assertEquals(seen?.parentPid, Deno.pid);
    assertEquals(seen?.isMain, false);
    assertEquals(seen?.startMethod, startMethod);
  });

  Deno.test(`Process.pid is unique per child and an OS pid for subprocesses (${startMethod})`, async () => {
    const children = [
      spawn(recordSelf, [new Recorder()]),
      spawn(recordSelf, [new Recorder()]),
    ];
    assertEquals(children[0]!.pid, null);
    for (const child of children) child.start();
    for (const child of children) await child.join({ timeout: TIMEOUT });
    const [a, b] = children.map((child) => child.pid!);
    assertNotEquals(a, b);
    assertNotEquals(a, Deno.pid);
    if (startMethod === "subprocess") assert(a! > 0 && a! < 0x400000);
    else assert(a! >= 0x400000);
  });

  Deno.test(`Process.exitCode is 1 when the target throws or rejects (${startMethod})`, async () => {
    for (const target of [fails, rejects]) {
      const child = spawn(target, ["expected failure from a test"]);
      child.start();
      assertEquals(await child.join({ timeout: TIMEOUT }), 1);
    }
  });

  Deno.test(`Process.exitCode is n after Deno.exit(n) (${startMethod})`, async () => {
    const child = spawn(exitsWith, [7]);
    child.start();
    assertEquals(await child.join({ timeout: TIMEOUT }), 7);
  });

  Deno.test(`Process.exitCode is 1 when the target leaves a rejection unhandled (${startMethod})`, async () => {
    const child = spawn(leavesRejection, ["expected rejection from a test"]);
    child.start();
    assertEquals(await child.join({ timeout: TIMEOUT }), 1);
  });

  Deno.test(`Process.exitCode is Deno.exitCode as the target left it (${startMethod})`, async () => {
    const child = spawn(setsExitCode, [7]);
    child.start();
    assertEquals(await child.join({ timeout: TIMEOUT }), 7);
  });

  Deno.test(`Process.exitCode keeps the low 8 bits of Deno.exit(n), as the OS does (${startMethod})`, async () => {
    for (const [code, reported] of [[300, 44], [-1, 255], [256, 0]]) {
      const child = spawn(exitsWith, [code!]);
      child.start();
      assertEquals(await child.join({ timeout: TIMEOUT }), reported);
    }
  });

  Deno.test(`A child does not wait for timers its target left pending (${startMethod})`, async () => {
    const recorder = new Recorder();
    const child = spawn(leavesTimer, [recorder]);
    child.start();
    assertEquals(await child.join({ timeout: TIMEOUT }), 0);
    assertEquals(await recorder.values(), ["early"]);
  });

  Deno.test(`Process.terminate() and kill() give -15 and -9 (${startMethod})`, async () => {
    const terminated = spawn(sleepsForever);
    const killed = spawn(sleepsForever);
    terminated.start();
    killed.start();
    assertEquals(await terminated.join({ timeout: 100 }), null);
    assert(terminated.isAlive());
    terminated.terminate();
    killed.kill();
    assertEquals(await terminated.join({ timeout: TIMEOUT }), -15);
    assertEquals(await killed.join({ timeout: TIMEOUT }), -9);
    terminated.terminate(); // Does nothing once ended.
    assertEquals(terminated.exitCode, -15);
  });

  Deno.test(`Process.join() with a timeout of 2³¹ ms or more keeps waiting (${startMethod})`, async () => {
    const child = spawn(sleepsForever);
    child.start();
    for (const timeout of [2 ** 31, 2 ** 32 + 5]) {
      const controller = new AbortController();
      let settled = false;
      const joining = child.join({ timeout, signal: controller.signal });
      joining.then(() => settled = true, () => settled = true);
      // Long enough for an overflowed timer to have fired.
      await delay(100);
      assert(!settled, `join() with timeout ${timeout} ended early`);
      controller.abort(new Error("stop waiting"));
      await assertRejects(() => joining, Error, "stop waiting");
    }
    child.kill();
    assertEquals(await child.join({ timeout: TIMEOUT }), -9);
  });

  Deno.test(`Process.join() rejects with the signal's reason, leaving the child running (${startMethod})`, async () => {
    const child = spawn(sleepsForever);
    child.start();
    const controller = new AbortController();
    const joining = child.join({ signal: controller.signal });
    controller.abort(new Error("stop waiting"));
    await assertRejects(() => joining, Error, "stop waiting");
    assert(child.isAlive());
    child.kill();
    assertEquals(await child.join({ timeout: TIMEOUT }), -9);
  });

  Deno.test(`Process[Symbol.asyncDispose]() terminates a running child (${startMethod})`, async () => {
    let child: Process | undefined;
    {
      await using disposed = spawn(sleepsForever);
      disposed.start();
      child = disposed;
    }
    assertEquals(child.exitCode, -15);
  });

  Deno.test(`activeChildren() lists running children only (${startMethod})`, async () => {
    const child = spawn(sleepsForever);
    child.start();
    assert(activeChildren().includes(child));
    child.kill();
    await child.join({ timeout: TIMEOUT });
    assertEquals(activeChildren().includes(child), false);
  });

  Deno.test(`Process args may hold primitives at any depth (${startMethod})`, async () => {
    const recorder = new Recorder();
    const child = spawn(recordDeep, [{
      deep: [21, new Map([["r", recorder]])],
    }]);
    child.start();
    assertEquals(await child.join({ timeout: TIMEOUT }), 0);
    assertEquals(await recorder.values(), [42]);
  });

  Deno.test(`Process args keep the identity of a primitive passed twice (${startMethod})`, async () => {
    const recorder = new Recorder();
    const child = spawn(recordTwiceSameObject, [recorder, recorder]);
    child.start();
    assertEquals(await child.join({ timeout: TIMEOUT }), 0);
    assertEquals(await recorder.values(), [true]);
  });

  Deno.test(`A child's unawaited last call is delivered before it exits (${startMethod})`, async () => {
    const recorder = new Recorder();
    const child = spawn(recordWithoutAwait, [recorder]);
    child.start();
    assertEquals(await child.join({ timeout: TIMEOUT }), 0);
    assertEquals(await recorder.values(), ["last words"]);
  });

  Deno.test(`A child's blocking call waits for its parent's answer (${startMethod})`, async () => {
    const recorder = new Recorder();
    const child = spawn(recordCountSync, [recorder]);
    child.start();
    assertEquals(await child.join({ timeout: TIMEOUT }), 0);
    assertEquals(await recorder.values(), ["first", 1]);
  });

  for (const grandchildMethod of START_METHODS) {
    Deno.test(`A primitive passed on to a ${grandchildMethod} grandchild reaches its owner (${startMethod})`, async () => {
      const recorder = new Recorder();
      const child = spawn(startsGrandchild, [recorder, grandchildMethod]);
      child.start();
      assertEquals(await child.join({ timeout: TIMEOUT }), 0);
      const [info, code] = await recorder.values() as [ProcessInfo, number];
      assertEquals(code, 0);
      assertEquals(info.startMethod, grandchildMethod);
      assertMatch(info.name, /^Process-\d+:1$/);
      assertNotEquals(info.parentPid, Deno.pid);
    });
  }

  Deno.test(`A child's console output and error stack reach the parent (${startMethod})`, async () => {
    const greeted = await runDeno([RUN_CHILD, startMethod, "hello", "ann"]);
    assertEquals(greeted.stdout, "hello ann from Process-1\nexit 0\n");
    const failed = await runDeno([RUN_CHILD, startMethod, "fails", "boom"]);
    assertEquals(failed.stdout, "exit 1\n");
    assertMatch(
      failed.stderr,
      /Process Process-1:\n.*Error: boom\n\s+at fails \(.*targets\.ts/,
    );
  });

  Deno.test(`Process.start() fails at once for a target that is not exported (${startMethod})`, () => {
    const notExported = () => notExportedCaller;
    function localFunction() {}
    for (const target of [notExported, localFunction]) {
      const child = spawn(target);
      const error = assertThrows(() => child.start(), TypeError);
      assertMatch(
        error.message,
        new RegExp(
          `function ${target.name} is not exported from .*targets\\.ts: export it`,
        ),
      );
      assertEquals(child.isAlive(), false);
    }
    const anonymous = spawn((() => () => {})());
    assertThrows(
      () => anonymous.start(),
      TypeError,
      "anonymous or bound function",
    );
    const bound = spawn(hello.bind(null));
    assertThrows(() => bound.start(), TypeError, "anonymous or bound function");
  });

  Deno.test(`Process.start() names the path of an argument that cannot be cloned (${startMethod})`, () => {
    const cases: [unknown[], string][] = [
      [[1, { cb: () => {} }], "args[1].cb"],
      [[{ s: Symbol("x") }], "args[0].s"],
      [[[new Map([["k", new (class Point {})()]])]], 'args[0][0].get("k")'],
      [[{ "odd key": [function named() {}] }], 'args[0]["odd key"][0]'],
    ];
    for (const [args, path] of cases) {
      const child = spawn(hello as (...args: unknown[]) => unknown, args);
      const error = assertThrows(() => child.start(), TypeError);
      assert(
        error.message.startsWith(`Cannot send ${path} to another process`),
        error.message,
      );
      assertEquals(child.isAlive(), false);
    }
  });

  Deno.test(`Process.start() a second time throws (${startMethod})`, async () => {
    const child = spawn(hello, ["twice"]);
    child.start();
    assertThrows(() => child.start(), Error, "already started");
    assertEquals(await child.join({ timeout: TIMEOUT }), 0);
  });
}

Deno.test("Process.join() before start() throws, naming the fix", async () => {
  const child = new Process({ target: hello, module: TARGETS });
  await assertRejects(() => child.join(), Error, "call start() first");
  assertThrows(() => child.terminate(), Error, "call start() first");
  assertThrows(() => child.kill(), Error, "call start() first");
});

Deno.test("Process.join() rejects a negative timeout", async () => {
  const child = new Process({ target: hello, args: ["x"], module: TARGETS });
  child.start();
  await assertRejects(
    () => child.join({ timeout: -1 }),
    RangeError,
    "timeout -1",
  );
  assertEquals(await child.join({ timeout: TIMEOUT }), 0);
});

Deno.test("new Process() rejects an unknown start method or a non-function target", () => {
  assertThrows(
    () => new Process({ target: hello, startMethod: "fork" as "worker" }),
    TypeError,
    'Cannot use start method "fork": use "worker" or "subprocess"',
  );
  assertThrows(
    () => new Process({ target: 42 as unknown as () => void }),
    TypeError,
    "target is number",
  );
});

Deno.test("setStartMethod() changes the default and rejects unknown methods", () => {
  assertEquals(getStartMethod(), "worker");
  assertThrows(() => setStartMethod("spawn" as "worker"), TypeError, '"spawn"');
  setStartMethod("subprocess");
  try {
    assertEquals(new Process({ target: hello }).startMethod, "subprocess");
  } finally {
    setStartMethod("worker");
  }
});

Deno.test("currentProcess() describes the main process", () => {
  const info = currentProcess();
  assertEquals(info.name, "MainProcess");
  assertEquals(info.pid, Deno.pid);
  assertEquals(info.isMain, true);
  assertEquals(info.startMethod, null);
  assert(cpuCount() >= 1);
});

for (const startMethod of START_METHODS) {
  Deno.test(`Subprocess descendants die, leaving no socket file, when a ${startMethod} parent program is SIGKILLed`, async () => {
    // A private TMPDIR: only this test's socket files can be in it.
    const tmpdir = await Deno.makeTempDir();
    const parent = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", RUN_CHILD, startMethod, "startsSleepingGrandchild"],
      env: { TMPDIR: tmpdir },
      stdout: "piped",
      stderr: "inherit",
      signal: AbortSignal.timeout(TIMEOUT),
    }).spawn();
    const pids: number[] = [];
    const reader = parent.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let text = "";
    const wanted = startMethod === "subprocess" ? 2 : 1;
    while (pids.length < wanted) {
      const { value, done } = await deadline(reader.read(), TIMEOUT);
      if (done) break;
      text += value;
      pids.splice(
        0,
        pids.length,
        ...[...text.matchAll(/pid (\d+)/g)].map((m) => Number(m[1])).filter((
          pid,
        ) => pid !== parent.pid),
      );
    }
    assertEquals(pids.length, wanted, text);
    assertEquals(socketFiles(tmpdir).length, wanted);
    parent.kill("SIGKILL");
    await parent.status;
    await reader.cancel();
    await waitUntilGone(pids);
    assertEquals(socketFiles(tmpdir), []);
    await Deno.remove(tmpdir, { recursive: true });
  });
}

Deno.test("A subprocess child reaches its parent with whatever denoFlags narrow its permissions to", async (t) => {
  const { Queue } = await import("../queue.ts");
  const { putsPair } = await import("./testdata/queue_targets.ts");
  for (
    const denoFlags of [
      ["--allow-read"],
      ["-R"],
      ["-A"],
      ["--allow-read", "--allow-net=127.0.0.1", "--allow-write=/nowhere"],
    ]
  ) {
    await t.step(denoFlags.join(" "), async () => {
      const q = new Queue<[string, number]>();
      const child = new Process({
        target: putsPair,
        args: [q],
        module: new URL("./testdata/queue_targets.ts", import.meta.url).href,
        startMethod: "subprocess",
        denoFlags,
      });
      child.start();
      assertEquals(await q.get({ timeout: TIMEOUT }), ["xiaoming", 12]);
      assertEquals(await child.join({ timeout: TIMEOUT }), 0);
    });
  }
});

Deno.test("withAccess() adds the socket's access to flags, extending a scoped grant and keeping a full one", async () => {
  const { withAccess } = await import("../_backend_subprocess.ts");
  const paths = { read: ["/s"], write: ["/s"], net: ["unix:/s"] };
  assertEquals(withAccess(["-A"], paths), ["-A"]);
  assertEquals(withAccess(["--allow-read", "-N"], paths), [
    "--allow-read",
    "-N",
    "--allow-write=/s",
  ]);
  assertEquals(withAccess(["--allow-read=/data", "--allow-net=x.org"], paths), [
    "--allow-read=/data,/s",
    "--allow-net=x.org,unix:/s",
    "--allow-write=/s",
  ]);
});

Deno.test("A subprocess child's link to its parent calls with its spawn token, a stranger's is refused, and once the parent's end is gone calls reject with ProcessError", async () => {
  const { ChildLink } = await import("../_backend_subprocess.ts");
  const { DirectLink, DirectServer } = await import("../_direct.ts");
  const { ProcessError } = await import("../errors.ts");
  const { callOwner, callOwnerSync, current, expose } = await import(
    "../_runtime.ts"
  );
  const child = new ChildLink(current.pid);
  const server = new DirectServer(
    { transport: "unix" },
    Infinity,
    (token) => token === "spawned" ? child : undefined,
  );
  const address = {
    transport: "unix" as const,
    path: server.address.path!,
    limit: Infinity,
  };
  const id = expose({}, (op, args, { signal }) => {
    if (op === "echo") return args[0];
    // Waits until the caller is gone.
    return new Promise((_, reject) =>
      signal.addEventListener("abort", () => reject(signal.reason))
    );
  });
  const stranger = new DirectLink(address, { token: "other", parent: true });
  await assertRejects(
    () => callOwner(current.pid, id, "echo", [1], undefined, stranger),
    ProcessError,
    "refused this process: its token names no child of this process",
  );
  const link = new DirectLink(address, { token: "spawned", parent: true });
  assertEquals(
    await callOwner(current.pid, id, "echo", [2], undefined, link),
    2,
  );
  // A blocking call that succeeds needs a parent in another thread: this
  // one serves (the children of the other tests make them).
  const waiting = callOwner(current.pid, id, "wait", [], undefined, link);
  await delay(50);
  child.abort();
  await assertRejects(
    () => waiting,
    ProcessError,
    "The parent process is gone",
  );
  assertThrows(
    () => callOwnerSync(current.pid, id, "echo", [4], link),
    ProcessError,
    "The parent process is gone",
  );
  await deadline(child.closed(), TIMEOUT);
  server.close();
});

for (const startMethod of START_METHODS) {
  Deno.test(`A grandchild's exit relayed up prints nothing at a parent that uses no shared object (${startMethod})`, async () => {
    const program = new URL(
      "./testdata/quiet_relay_program.ts",
      import.meta.url,
    ).pathname;
    const { stdout, stderr } = await runDeno([program, startMethod]);
    assertEquals(stderr, "");
    assertEquals(stdout, "exit 0\n");
  });
}

Deno.test("A worker stopped while it waits on shared memory prints nothing as it runs on", async () => {
  const program = new URL("./testdata/quiet_stop_program.ts", import.meta.url)
    .pathname;
  const { stdout, stderr } = await runDeno([program]);
  assertEquals(stderr, "");
  assertEquals(stdout, "100\n101\n102\n103\n104\n");
});

for (const startMethod of START_METHODS) {
  for (const kind of ["process", "pool", "manager"] as const) {
    Deno.test(`A child refuses to start a ${kind} from the top level of the module it imports for its work, naming the fix (${startMethod})`, async () => {
      const program = new URL(
        "./testdata/unguarded_program.ts",
        import.meta.url,
      ).pathname;
      const { code, stdout, stderr } = await runDeno([program], ["-A"], {
        UNGUARDED_KIND: kind,
        UNGUARDED_START_METHOD: startMethod,
      });
      // The parent's top level, then the one child's: never a grandchild's.
      assertEquals(stdout.match(/top level/g)?.length, 2);
      assertStringIncludes(
        stdout + stderr,
        "for its work: that module starts processes when imported; guard its main code with `if (import.meta.main)`",
      );
      if (kind === "process") {
        assertEquals([code, stdout.endsWith("exit 1\n")], [0, true]);
      } else if (kind === "pool") {
        assertEquals(code, 0);
        assertStringIncludes(stdout, "failed: Cannot start a pool while");
      } else {
        assertEquals(code, 1);
        assertStringIncludes(stderr, "its server exited with code 1");
      }
    });
  }
}

Deno.test("Manager.start() serves a class registered from the running main module", async () => {
  const program = new URL(
    "./testdata/main_register_program.ts",
    import.meta.url,
  ).pathname;
  const { code, stdout, stderr } = await runDeno([program]);
  assertEquals([code, stderr, stdout], [0, "", "1 2\n"]);
});

Deno.test("A blocking call's answer larger than its slot arrives whole, the slot grown for it", async () => {
  const { awaitAnswer, writeSlot } = await import("../_runtime.ts");
  const { encode } = await import("../_codec.ts");
  let size = 0;
  const answer = awaitAnswer((slot) => {
    size = slot.byteLength;
    const text = "x".repeat(size * 2);
    writeSlot(slot, encode({ t: "ret", c: 1, ok: true, v: text }));
  });
  assertEquals(answer, { t: "ret", c: 1, ok: true, v: "x".repeat(size * 2) });
});
