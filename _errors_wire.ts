// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// Errors lose their class in structured clone (only built-in names survive),
// so they travel as plain records and are rebuilt with the right class.
import {
  AuthenticationError,
  BrokenBarrierError,
  EmptyError,
  EOFError,
  FullError,
  ProcessError,
  ShutDownError,
  TimeoutError,
} from "./errors.ts";

/** An error as it crosses a process boundary. */
export interface WireError {
  name: string;
  message: string;
  stack?: string | undefined;
  exitCode?: number | null;
}

type ErrorClass = new (message?: string) => Error;

const classes: Record<string, ErrorClass> = {
  AuthenticationError,
  BrokenBarrierError,
  EmptyError,
  EOFError,
  FullError,
  ProcessError,
  ShutDownError,
  TimeoutError,
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
};

/** Turns anything thrown into a cloneable record. */
export function toWireError(error: unknown): WireError {
  if (error instanceof Error) {
    const wire: WireError = {
      name: error.name,
      message: error.message,
      stack: error.stack,
    };
    if (error instanceof ProcessError) wire.exitCode = error.exitCode;
    return wire;
  }
  return { name: "Error", message: String(error) };
}

/** Rebuilds an error of the same class (or a plain `Error` with the same name). */
export function fromWireError(wire: WireError): Error {
  const ErrorClass = classes[wire.name] ?? Error;
  const error = new ErrorClass(wire.message);
  error.name = wire.name;
  if (wire.stack !== undefined) error.stack = wire.stack;
  if (error instanceof ProcessError) error.exitCode = wire.exitCode ?? null;
  return error;
}
