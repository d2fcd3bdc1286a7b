// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// Errors lose their class in structured clone (only built-in names survive),
// so they travel as plain records and are rebuilt with the right class.
import * as errors from "./errors.ts";
import { ERROR_CLASSES, setCause } from "./_codec.ts";

/** An error as it crosses a process boundary. */
export interface WireError {
  name: string;
  message: string;
  stack?: string | undefined;
  exitCode?: number | null;
  /** The `cause`, when the error has one of its own. */
  cause?: WireValue;
  /** An AggregateError's `errors`. */
  errors?: WireValue[];
}

/** A value inside an error: an error to rebuild, or data. */
export type WireValue = { e: WireError } | { v: unknown };

type ErrorClass = new (message?: string) => Error;

const classes: Record<string, ErrorClass> = { ...errors, ...ERROR_CLASSES };

// A cause or an inner error goes this deep at most (an error may hold itself).
const MAX_DEPTH = 8;

function toWireValue(value: unknown, depth: number): WireValue {
  if (value instanceof Error && depth < MAX_DEPTH) {
    return { e: toWireError(value, depth + 1) };
  }
  try {
    // The record must be sendable, whatever the error held.
    structuredClone(value);
    return { v: value };
  } catch {
    return { v: describe(value) };
  }
}

function describe(value: unknown): string {
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/**
 * Turns anything thrown into a cloneable record.
 *
 * @param depth How deep inside another error's cause or errors it is.
 */
export function toWireError(error: unknown, depth = 0): WireError {
  if (!(error instanceof Error)) {
    return { name: "Error", message: String(error) };
  }
  const wire: WireError = {
    name: error.name,
    message: error.message,
    stack: error.stack,
  };
  if (error instanceof errors.ProcessError) wire.exitCode = error.exitCode;
  if (Object.hasOwn(error, "cause")) {
    wire.cause = toWireValue(error.cause, depth);
  }
  if (error instanceof AggregateError && Array.isArray(error.errors)) {
    wire.errors = error.errors.map((item) => toWireValue(item, depth));
  }
  return wire;
}

function fromWireValue(wire: WireValue): unknown {
  return "e" in wire ? fromWireError(wire.e) : wire.v;
}

/** Rebuilds an error of the same class (or a plain `Error` with the same name). */
export function fromWireError(wire: WireError): Error {
  const error = wire.errors !== undefined
    ? new AggregateError(wire.errors.map(fromWireValue), wire.message)
    : new (classes[wire.name] ?? Error)(wire.message);
  error.name = wire.name;
  if (wire.stack !== undefined) error.stack = wire.stack;
  if (error instanceof errors.ProcessError) {
    error.exitCode = wire.exitCode ?? null;
  }
  if (wire.cause !== undefined) setCause(error, fromWireValue(wire.cause));
  return error;
}
