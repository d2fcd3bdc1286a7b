// Targets for the benchmarks' children, kept apart from the bench files so
// that children do not register benchmarks of their own.

/** Does nothing: measures the cost of a child's life alone. */
export function noop(): void {}
