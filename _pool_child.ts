// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// A pool's worker child: the pool's loop loads with the child's own
// modules, before the init message arrives, not after it.
import "./_pool_worker.ts";
import "./_child.ts";
// The queue's modules, at once rather than level by level (see _child.ts).
import "./_frame.ts";
import "./_queue_core.ts";
import "./queue.ts";
