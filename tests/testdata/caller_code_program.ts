// Registers a remote caller behind a route whose first hash slot is the
// caller's own, then prints both codes. Run as its own program: the bug it
// guards against spins forever, synchronously.
import { callerCode } from "../../_isolates.ts";

// Pids no OS process or worker can have; the same low 16 bits, so the same
// first slot in the table.
const grandchild = 0x400000 + 40;
const route = grandchild + 0x10000;
const code = callerCode(grandchild, route);
console.log(JSON.stringify([code, callerCode(route, route)]));
