// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// The manager's server: a child process (a worker or a subprocess) that
// owns every managed object and serves them at its own address
// (`_direct.ts`), so that any process holding a proxy reaches it directly.
// It creates objects when asked, answering with their descriptors, and
// stops when its manager shuts down.
import { DirectServer, type ListenOptions } from "./_direct.ts";
import {
  type Box,
  controlKind,
  type ControlState,
  customKind,
  type CustomState,
  type DictKey,
  dictKind,
  listKind,
  namespaceKind,
  publicMethods,
  show,
  valueKind,
  wrapProxy,
} from "./_manager_ops.ts";
import { rebuild, rebuildSync, reduce } from "./_reduce.ts";
import { current } from "./_runtime.ts";
import { findExport, importWork } from "./_target.ts";
import { type Descriptor, Shared } from "./_shared.ts";
import {
  Barrier,
  BoundedSemaphore,
  Condition,
  Event,
  Lock,
  RLock,
  Semaphore,
} from "./lock.ts";
// The public proxy classes register with the layer there.
import "./manager.ts";
import { JoinableQueue, Queue } from "./queue.ts";

/** A custom type: where the server finds its class. */
export interface TypeEntry {
  typeid: string;
  module: string;
  exportName: string;
}

/** How the server is to run. */
export interface ServerSetup {
  listen: ListenOptions;
  limit: number;
  types: TypeEntry[];
}

/** What the server reports once it listens. */
export interface ServerReady {
  control: Descriptor<unknown>;
  pid: number;
}

type Factory = (args: unknown[]) => object;

function builtins(): Map<string, Factory> {
  const box = <S>(kind: Parameters<typeof wrapProxy>[0], value: unknown) => {
    const shared = new Shared(kind as never, null as never, []);
    (shared.state as Box<unknown>).v = value;
    return wrapProxy(kind, shared) as S & object;
  };
  const factories: [string, Factory][] = [
    [
      "dict",
      ([entries]) =>
        box(dictKind, new Map(entries as [DictKey, unknown][] ?? [])),
    ],
    ["list", ([items]) => box(listKind, [...(items as unknown[] ?? [])])],
    [
      "namespace",
      ([entries]) =>
        box(namespaceKind, new Map(entries as [string, unknown][] ?? [])),
    ],
    ["value", ([initial]) => box(valueKind, initial)],
    ["lock", () => new Lock()],
    ["rlock", () => new RLock()],
    ["semaphore", ([n]) => new Semaphore(n as number)],
    ["boundedSemaphore", ([n]) => new BoundedSemaphore(n as number)],
    ["event", () => new Event()],
    ["condition", ([lock]) =>
      new Condition(
        lock === undefined ? undefined : rebuildSync(lock) as Lock,
      )],
    ["barrier", ([parties, options]) =>
      new Barrier(
        parties as number,
        options as { timeout?: number } | undefined,
      )],
    [
      "queue",
      ([options]) => new Queue(options as { maxsize?: number } | undefined),
    ],
    [
      "joinableQueue",
      ([options]) =>
        new JoinableQueue(options as { maxsize?: number } | undefined),
    ],
  ];
  return new Map(factories);
}

function customFactory(
  typeid: string,
  Class: new (...args: unknown[]) => Record<string, unknown>,
): Factory {
  const methods = publicMethods(Class);
  const methodSet = new Set(methods);
  return (args) => {
    const instance = new Class(...rebuildSync(args) as unknown[]);
    const shared = new Shared(customKind, { typeid, methods }, []);
    const state = shared.state as CustomState;
    state.v = instance as CustomState["v"];
    state.methods = methodSet;
    state.call = async (method, callArgs) => {
      const result = await state.v[method]!(
        ...await rebuild(callArgs) as unknown[],
      );
      return reduce(result, "subprocess", `the result of ${method}()`).value;
    };
    return wrapProxy(customKind, shared);
  };
}

/**
 * The server's entry, run as a Process target: listens, reports where
 * through `ready`, then serves until its manager shuts it down.
 */
export async function serveManager(
  ready: Queue<ServerReady>,
  setup: ServerSetup,
): Promise<void> {
  const factories = builtins();
  for (const { typeid, module, exportName } of setup.types) {
    const Class = findExport(await importWork(module), exportName) as
      | (new (...args: unknown[]) => Record<string, unknown>)
      | undefined;
    if (Class === undefined) {
      throw new TypeError(
        `Cannot register type ${
          show(typeid)
        } as ${module} exports no class ${exportName}`,
      );
    }
    factories.set(typeid, customFactory(typeid, Class));
  }
  const server = new DirectServer(setup.listen, setup.limit);
  const { promise: stopped, resolve: stop } = Promise.withResolvers<void>();
  const control = new Shared(controlKind, null, []);
  const state = control.state as ControlState;
  state.stop = stop;
  state.published = new Map();
  state.create = (typeid, args) => {
    const factory = factories.get(typeid);
    if (factory === undefined) {
      throw new TypeError(
        `Cannot create a ${
          show(typeid)
        } as the manager knows no such type: register it with Manager.register() before start()`,
      );
    }
    if (!Array.isArray(args)) {
      throw new TypeError(`Cannot create a ${typeid} from ${show(args)}`);
    }
    return reduce(factory(args), "subprocess", typeid).value;
  };
  const descriptor = control.describe("subprocess");
  server.root = { owner: descriptor.owner, id: descriptor.id };
  await ready.put({ control: descriptor, pid: current.pid });
  await stopped;
  server.close();
}
