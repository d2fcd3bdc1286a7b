// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// Shared memory across OS processes (Linux, `--allow-ffi`): the one module
// that talks to libc.
//
// A shareable buffer is a growable SharedArrayBuffer, whose pages V8
// reserves with mmap (page-aligned, never the malloc heap, never reused for
// anything else while the buffer lives), remapped at once with
// `MAP_SHARED | MAP_FIXED` onto a memfd. Any process that maps the memfd
// (it opens `/proc/<pid>/fd/<n>` of a process that holds it) gets its own
// SharedArrayBuffer over the same memory, so the ring and lock code works
// unchanged. Nothing has a name in the file system: when the last process
// holding it exits or drops it, the memory is gone.
//
// `MP_SHARED_MEMORY=0` in the environment turns it all off; so does a
// missing `--allow-ffi`, silently.

/** The environment variable that turns shared memory across OS processes off. */
export const SWITCH = "MP_SHARED_MEMORY";

const PAGE = 4096;
const PROT_READ_WRITE = 3;
const MAP_SHARED_FIXED = 0x01 | 0x10;
const MAP_PRIVATE_ANONYMOUS_FIXED = 0x02 | 0x20 | 0x10;
const O_RDWR_CLOEXEC = 0o2 | 0o2000000;
const MFD_CLOEXEC = 1;
const FUTEX_WAIT = 0;
const FUTEX_WAKE = 1;
/** `SYS_futex` by architecture. */
const SYS_FUTEXES: Record<string, bigint> = { x86_64: 202n, aarch64: 98n };
const SYS_FUTEX = SYS_FUTEXES[Deno.build.arch] ?? 0n;

const SYMBOLS = {
  memfd_create: { parameters: ["buffer", "u32"], result: "i32" },
  ftruncate: { parameters: ["i32", "i64"], result: "i32" },
  mmap: {
    parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"],
    result: "pointer",
  },
  open: { parameters: ["buffer", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  readlink: { parameters: ["buffer", "buffer", "usize"], result: "isize" },
  // The kernel reads the op and the values as 32-bit ints.
  wake: {
    name: "syscall",
    parameters: ["i64", "u64", "i32", "i32"],
    result: "i64",
  },
  wait: {
    name: "syscall",
    parameters: ["i64", "u64", "i32", "i32", "buffer"],
    result: "i64",
    nonblocking: true,
  },
} as const;

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

function switchedOff(): boolean {
  try {
    const env = Deno.permissions.querySync({ name: "env", variable: SWITCH });
    return env.state === "granted" && Deno.env.get(SWITCH) === "0";
  } catch {
    return false;
  }
}

function load(): Libc | null {
  try {
    return usable() ? Deno.dlopen("libc.so.6", SYMBOLS).symbols : null;
  } catch {
    return null;
  }
}

let isUsable: boolean | undefined;
let libc: Libc | null | undefined;

/** Whether shared memory is on here, known without loading libc. */
function usable(): boolean {
  if (isUsable !== undefined) return isUsable;
  try {
    isUsable = Deno.build.os === "linux" && SYS_FUTEX !== 0n &&
      Deno.permissions.querySync({ name: "ffi" }).state === "granted" &&
      !switchedOff();
  } catch {
    isUsable = false;
  }
  return isUsable;
}

function lib(): Libc | null {
  if (libc === undefined) libc = load();
  return libc;
}

/** How another process finds a buffer's memory. */
export interface BufferRef {
  /** The memfd's unique name, checked by whoever opens it. */
  name: string;
  /** The buffer's length now, and the most it can grow to. */
  length: number;
  max: number;
  /** Processes that hold it open, as `[pid, fd]`, the nearest first. */
  at: [number, number][];
}

interface Mapping {
  name: string;
  fd: number;
  max: number;
  address: number;
  /** Where else it is held, as the descriptor it came in said. */
  at: [number, number][];
}

const mappings = new WeakMap<SharedArrayBuffer, Mapping>();
/** Buffers mapped here by name, so one that arrives twice is one buffer. */
const byName = new Map<string, WeakRef<SharedArrayBuffer>>();
const closer = new FinalizationRegistry<{ fd: number; name: string }>(
  ({ fd, name }) => {
    byName.delete(name);
    libc?.close(fd);
  },
);
let counter = 0;
const prefix = crypto.randomUUID().slice(0, 8);

const cString = (text: string) => new TextEncoder().encode(text + "\0");
const pageAligned = (bytes: number) =>
  Math.max(PAGE, Math.ceil(bytes / PAGE) * PAGE);

/**
 * Puts `buffer`'s pages onto `fd`: its address, or `null` if the kernel
 * refused (the buffer then has fresh private zeroed pages, as a failed
 * fixed mapping may have removed the old ones).
 */
function mapOnto(c: Libc, buffer: SharedArrayBuffer, fd: number, max: number) {
  const pointer = Deno.UnsafePointer.of(new Uint8Array(buffer));
  const address = Deno.UnsafePointer.value(pointer);
  const length = BigInt(max);
  const mapped = c.mmap(
    pointer,
    length,
    PROT_READ_WRITE,
    MAP_SHARED_FIXED,
    fd,
    0n,
  );
  if (Deno.UnsafePointer.value(mapped) === address) return Number(address);
  c.mmap(pointer, length, PROT_READ_WRITE, MAP_PRIVATE_ANONYMOUS_FIXED, -1, 0n);
  return null;
}

function remember(buffer: SharedArrayBuffer, mapping: Mapping): void {
  mappings.set(buffer, mapping);
  byName.set(mapping.name, new WeakRef(buffer));
  closer.register(buffer, { fd: mapping.fd, name: mapping.name });
}

/**
 * A new zeroed buffer of `bytes`, growable to `max`: in memory other OS
 * processes can map when shared memory is on, else an ordinary one.
 */
export function sharedBuffer(bytes: number, max?: number): SharedArrayBuffer {
  const c = lib();
  if (c === null) {
    return max === undefined
      ? new SharedArrayBuffer(bytes)
      : new SharedArrayBuffer(bytes, { maxByteLength: max });
  }
  const size = pageAligned(max ?? bytes);
  const buffer = new SharedArrayBuffer(bytes, { maxByteLength: size });
  // Unique across the isolates of this process too (each has its counter).
  const name = `mp-${Deno.pid}-${prefix}-${++counter}`;
  const fd = c.memfd_create(cString(name), MFD_CLOEXEC);
  if (fd < 0) return buffer;
  const address = c.ftruncate(fd, BigInt(size)) === 0
    ? mapOnto(c, buffer, fd, size)
    : null;
  if (address === null) {
    c.close(fd);
    return buffer;
  }
  remember(buffer, { name, fd, max: size, address, at: [] });
  return buffer;
}

/** How other processes find `buffer`, or `null` if it is not shareable. */
export function bufferRef(buffer: SharedArrayBuffer): BufferRef | null {
  const mapping = mappings.get(buffer);
  if (mapping === undefined) return null;
  const at: [number, number][] = [[Deno.pid, mapping.fd]];
  for (const place of mapping.at) {
    if (at.length < 3 && place[0] !== Deno.pid) at.push(place);
  }
  return {
    name: mapping.name,
    length: buffer.byteLength,
    max: mapping.max,
    at,
  };
}

/** Whether the fd `fd` of this process is the memfd called `name`. */
function isNamed(c: Libc, fd: number, name: string): boolean {
  const target = new Uint8Array(256);
  const length = Number(
    c.readlink(cString(`/proc/self/fd/${fd}`), target, 255n),
  );
  if (length < 0) return false;
  const link = new TextDecoder().decode(target.subarray(0, length));
  return link === `/memfd:${name}` || link === `/memfd:${name} (deleted)`;
}

function openRef(c: Libc, ref: BufferRef): number {
  for (const [pid, fd] of ref.at) {
    const opened = c.open(cString(`/proc/${pid}/fd/${fd}`), O_RDWR_CLOEXEC);
    if (opened < 0) continue;
    // The fd may have been closed and its number reused meanwhile.
    if (isNamed(c, opened, ref.name)) return opened;
    c.close(opened);
  }
  return -1;
}

/**
 * This process's buffer over the memory `ref` names (a worker of the same
 * OS process passes the buffer itself as `buffer`); `null` when it cannot
 * be mapped (shared memory off, or no process holding it is left).
 */
export function mapBuffer(
  ref: BufferRef,
  buffer?: SharedArrayBuffer,
): SharedArrayBuffer | null {
  if (buffer !== undefined) {
    // Same OS process: the fd numbers hold here too, and libc is not needed
    // yet (loading it would cost a worker child a millisecond or two).
    if (!usable()) return null;
    if (!mappings.has(buffer)) {
      const [, fd] = ref.at.find(([pid]) => pid === Deno.pid) ?? [0, -1];
      const address = Deno.UnsafePointer.value(
        Deno.UnsafePointer.of(new Uint8Array(buffer)),
      );
      mappings.set(buffer, {
        name: ref.name,
        fd,
        max: ref.max,
        address: Number(address),
        at: ref.at,
      });
    }
    return buffer;
  }
  const c = lib();
  if (c === null) return null;
  const known = byName.get(ref.name)?.deref();
  if (known !== undefined) return grownTo(known, ref.length);
  const fd = openRef(c, ref);
  if (fd < 0) return null;
  const mapped = new SharedArrayBuffer(ref.length, { maxByteLength: ref.max });
  const address = mapOnto(c, mapped, fd, ref.max);
  if (address === null) {
    c.close(fd);
    return null;
  }
  remember(mapped, { name: ref.name, fd, max: ref.max, address, at: ref.at });
  return mapped;
}

/**
 * `buffer`, grown here to at least `bytes`: another process grew the memory
 * they share, and a buffer's length is each process's own.
 */
export function grownTo(
  buffer: SharedArrayBuffer,
  bytes: number,
): SharedArrayBuffer {
  if (buffer.growable && buffer.byteLength < bytes) buffer.grow(bytes);
  return buffer;
}

/**
 * The 32-bit words of `buffer` as it is now. A fixed-length view: on a
 * growable buffer, a length-tracking one makes every Atomics call ~5×
 * slower.
 */
export function wordsOf(buffer: SharedArrayBuffer): Int32Array {
  return new Int32Array(buffer, 0, buffer.byteLength >> 2);
}

/** The address of `view[index]`, if its buffer is shared across processes. */
export function addressOf(view: Int32Array, index: number): number | null {
  const mapping = mappings.get(view.buffer as SharedArrayBuffer);
  return mapping === undefined
    ? null
    : mapping.address + view.byteOffset + index * 4;
}

/** Wakes up to `count` processes sleeping in the kernel on `address`. */
export function futexWake(address: number, count = 0x7fffffff): void {
  lib()!.wake(SYS_FUTEX, BigInt(address), FUTEX_WAKE, count);
}

/**
 * Sleeps in the kernel while the word at `address` is `value`, at most
 * `ms`, without blocking this thread: resolves when woken, when the word
 * differs, or at the timeout.
 */
export async function futexWait(
  address: number,
  value: number,
  ms: number,
): Promise<void> {
  const whole = Math.floor(ms / 1000);
  const timeout = new BigInt64Array([
    BigInt(whole),
    BigInt(Math.floor((ms - whole * 1000) * 1e6)),
  ]);
  await lib()!.wait(SYS_FUTEX, BigInt(address), FUTEX_WAIT, value, timeout);
}
