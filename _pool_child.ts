// Copyright 2026 the @mp/multiprocessing authors. MIT license.
// A pool's worker child: the pool's loop loads with the child's own
// modules, before the init message arrives, not after it.
import "./_pool_worker.ts";
import "./_child.ts";
