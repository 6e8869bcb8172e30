// What a run starts before the rest of glassbox is even loaded. The bundle
// runs this module first (src/cli/entry.ts imports it before anything
// else), so the kernel's wait before the helper's first cgroup move
// (runtime/cgroup warmCgroupMoves) passes while the program loads.
import { warmCgroupMoves, type CgroupWarm } from '../runtime/cgroup/index.js';

let early: CgroupWarm | undefined = process.argv.slice(2).includes('run') ? warmCgroupMoves() : undefined;

/** The warm-up begun at start, once: the run command takes it. */
export function takeEarlyCgroupWarm(): CgroupWarm | undefined {
  const w = early;
  early = undefined;
  return w;
}
