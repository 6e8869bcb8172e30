// What a walkthrough's {{placeholders}} stand for in a live run, read from
// the run's context at a pause (walkthrough.ts lists the names and the first
// pause that knows each).
import { detectCgroups } from '../runtime/cgroup/index.js';
import type { RunContext } from '../runtime/context.js';

/**
 * The container's cgroup directory that the notes name: the memory
 * controller's on a v1 or hybrid host (the files a lesson about limits reads),
 * the one directory on a v2 host.
 */
function cgroupDir(paths: readonly string[]): string | undefined {
  let memoryRoot: string | undefined;
  try {
    memoryRoot = detectCgroups().v1Roots.memory;
  } catch {
    // no cgroup filesystem to ask: take the first directory
  }
  return (memoryRoot && paths.find((p) => p.startsWith(`${memoryRoot}/`))) || paths[0];
}

/** The values known so far in this run. */
export function runValues(ctx: RunContext): Record<string, string> {
  const v: Record<string, string> = { root: ctx.store.root };
  const layers = ctx.image?.layers;
  if (layers?.length) v.layerDir = layers[layers.length - 1]!;
  if (ctx.id) v.id = ctx.id.slice(0, 12);
  if (ctx.dirs) v.merged = ctx.dirs.merged;
  const pid = ctx.helper?.initPid ?? ctx.helper?.pid;
  if (pid) v.pid = String(pid);
  const cg = ctx.cgroup ? cgroupDir(ctx.cgroup.paths) : undefined;
  if (cg) v.cgroup = cg;
  return v;
}
