// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// Functions travel by reference, as Python pickles them: the child imports
// the module and looks the function up among its exports.

/** How the errors about a function passed by reference word the failure. */
export interface ReferenceUse {
  /** What fails: "start the process". */
  action: string;
  /** What passes the module: "`module`" (the default). */
  option?: string;
}

/** The error text for function `name`, which `module` does not export. */
export function notExportedMessage(
  name: string,
  module: string,
  { action, option = "`module`" }: ReferenceUse = {
    action: "start the process",
  },
): string {
  return `Cannot ${action} as function ${name} is not exported from ${module}: export it (\`export function ${name}\`), or pass the module that exports it as ${option}`;
}

/**
 * The name a child finds `fn` by among the exports of `module`, checked
 * where it is passed, so that the caller hears of a mistake at once.
 *
 * @param use What fails, and `role`: how the errors call `fn` ("its
 * target").
 * @throws {TypeError} When `fn` is anonymous or bound, or when `module`
 * certainly does not export it.
 */
export function exportedName(
  fn: { name: string },
  module: string,
  use: ReferenceUse & { role: string },
): string {
  const name = fn.name;
  if (name === "" || name === "anonymous" || name.startsWith("bound ")) {
    throw new TypeError(
      `Cannot ${use.action} as ${use.role} is an anonymous or bound function: declare it as \`export function name() {}\` in ${module}`,
    );
  }
  if (certainlyNotExported(name, module)) {
    throw new TypeError(notExportedMessage(name, module, use));
  }
  return name;
}

/**
 * Finds the exported function `name` in a module namespace, also under
 * another export name (`export { run as main }`).
 */
export function findExport(
  namespace: Record<string, unknown>,
  name: string,
): ((...args: unknown[]) => unknown) | undefined {
  const direct = namespace[name];
  const found = typeof direct === "function" ? direct : Object.values(namespace)
    .find((value) => typeof value === "function" && value.name === name);
  return found as ((...args: unknown[]) => unknown) | undefined;
}

/** The modules a child is importing for its work, while it imports them. */
const importing = new Set<string>();

/**
 * Imports the module a child's work lives in (a target's, a pool's tasks',
 * a manager's registered class's), noting it meanwhile, so that a process
 * its top level starts is refused (see {@linkcode checkNotImporting}).
 */
export async function importWork(
  module: string,
): Promise<Record<string, unknown>> {
  importing.add(module);
  try {
    return await import(module);
  } finally {
    importing.delete(module);
  }
}

/**
 * Refuses to start `what` from the top level of a module a child imports
 * for its work: the program's main code, unguarded, would start a child
 * that imports it and starts another, without end (Python raises its
 * "bootstrapping phase" RuntimeError there).
 *
 * @throws {Error} While a child imports such a module.
 */
export function checkNotImporting(what: string): void {
  for (const module of importing) {
    throw new Error(
      `Cannot start ${what} while this child imports ${module} for its work: that module starts processes when imported; guard its main code with \`if (import.meta.main)\` (Python's \`if __name__ == "__main__":\`)`,
    );
  }
}

const sourceExports = new Map<string, string | null>();

function readSource(module: string): string | null {
  if (sourceExports.has(module)) return sourceExports.get(module)!;
  let source: string | null = null;
  try {
    const url = new URL(module);
    if (url.protocol === "file:") source = Deno.readTextFileSync(url);
  } catch {
    // Unreadable (no permission, remote): the child does the check instead.
  }
  sourceExports.set(module, source);
  return source;
}

/**
 * Skips the source check for `module`, one of this package's own whose
 * exports are known: reading and searching its source would cost a first
 * child milliseconds for nothing.
 */
export function trustExports(module: string): void {
  sourceExports.set(module, null);
}

/**
 * Whether the module source certainly does not export `name`. The parent
 * cannot import its own main module while that module is still running (it
 * may be awaiting this very child), so it reads the source instead; when in
 * doubt it says no and leaves the final word to the child.
 */
export function certainlyNotExported(name: string, module: string): boolean {
  const source = readSource(module);
  if (source === null || /\bexport\s*\*/.test(source)) return false;
  // The name, escaped for a regular expression.
  const id = name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const patterns = [
    new RegExp(`^.*\\bexport\\b.*\\b${id}\\b`, "m"),
    new RegExp(`\\bexport\\s*(?:type\\s*)?\\{[^}]*\\b${id}\\b`),
  ];
  return !patterns.some((pattern) => pattern.test(source));
}
