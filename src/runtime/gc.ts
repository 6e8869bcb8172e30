// What a killed glassbox leaves behind, found and removed. Every container
// directory records its owner (glassbox's PID and that process's start
// time, so a recycled PID is not taken for it). The helper and the
// container die with their owner (PR_SET_PDEATHSIG), and their mounts with
// their mount namespace; the directory and the cgroups stay until this runs.
import * as fs from 'node:fs';
import { join } from 'node:path';
import type { Store } from '../image/store.js';
import { errnoOf } from '../util/errors.js';
import { openCgroup, removeStale } from './cgroup/index.js';

export interface Owner {
  pid: number;
  /** Field 22 of /proc/PID/stat: clock ticks after boot. */
  startTime: string;
}

export function processStartTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses: count from the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

export function self(): Owner {
  return { pid: process.pid, startTime: processStartTime(process.pid) ?? '' };
}

export function ownerAlive(o: Owner): boolean {
  return processStartTime(o.pid) === o.startTime;
}

const STATE = 'state.json';
/** A directory without a state file is one being created: give it this long. */
const CREATE_GRACE_MS = 60_000;

export function writeOwner(dir: string): void {
  const tmp = join(dir, `.${STATE}.${process.pid}`);
  fs.writeFileSync(tmp, JSON.stringify({ owner: self() }) + '\n');
  fs.renameSync(tmp, join(dir, STATE));
}

function readOwner(dir: string): Owner | undefined {
  try {
    return (JSON.parse(fs.readFileSync(join(dir, STATE), 'utf8')) as { owner: Owner }).owner;
  } catch {
    return undefined;
  }
}

export interface GcResult {
  containers: string[];
  cgroups: string[];
}

export async function gc(store: Store): Promise<GcResult> {
  const removed: GcResult = { containers: [], cgroups: [] };
  const live = new Set<string>();
  for (const id of store.containerIds()) {
    const dir = join(store.root, 'containers', id);
    const owner = readOwner(dir);
    let age = 0;
    try {
      age = Date.now() - fs.statSync(dir).mtimeMs;
    } catch (e) {
      if (errnoOf(e) === 'ENOENT') continue;
      throw e;
    }
    if (owner ? ownerAlive(owner) : age < CREATE_GRACE_MS) {
      live.add(id);
      continue;
    }
    const cg = await openCgroup(id);
    if (cg) {
      await cg.destroy();
      removed.cgroups.push(...cg.paths);
    }
    fs.rmSync(dir, { recursive: true, force: true });
    removed.containers.push(id);
  }
  // Cgroups whose container directory is gone (glassbox killed between removing one and the other).
  removed.cgroups.push(...(await removeStale(undefined, (name) => live.has(name))));
  return removed;
}
