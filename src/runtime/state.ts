// containers/<id>/state.json: what any glassbox process can learn of a
// container without asking the one that runs it. Written whole (temp file
// and rename) at every change of state.
import * as fs from 'node:fs';
import { join } from 'node:path';
import type { Store } from '../image/store.js';

export interface Owner {
  pid: number;
  /** Field 22 of /proc/PID/stat: clock ticks after boot, so a recycled PID is not taken for the owner. */
  startTime: string;
}

export interface ContainerState {
  id: string;
  name?: string;
  image: string;
  command: string[];
  created: string;
  /** created and running: the owner is (or was) running it; exited: it ended, and --rm was not given. */
  status: 'created' | 'running' | 'exited';
  owner: Owner;
  exitCode?: number;
  finished?: string;
  oomKilled?: boolean;
}

const STATE = 'state.json';

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

export function containerDir(store: Store, id: string): string {
  return join(store.root, 'containers', id);
}

export function writeState(dir: string, s: ContainerState): void {
  const tmp = join(dir, `.${STATE}.${process.pid}`);
  fs.writeFileSync(tmp, JSON.stringify(s, null, 2) + '\n');
  fs.renameSync(tmp, join(dir, STATE));
}

export function readState(dir: string): ContainerState | undefined {
  try {
    return JSON.parse(fs.readFileSync(join(dir, STATE), 'utf8')) as ContainerState;
  } catch {
    return undefined;
  }
}

export function updateState(dir: string, patch: Partial<ContainerState>): void {
  const s = readState(dir);
  if (s) writeState(dir, { ...s, ...patch });
}

/** One container's state, read from its own file only; alive as in listContainers. */
export function stateOf(store: Store, id: string): (ContainerState & { alive: boolean }) | undefined {
  const s = readState(containerDir(store, id));
  return s && { ...s, alive: s.status !== 'exited' && ownerAlive(s.owner) };
}

/** Every container with a state file; a running one whose owner died reads as dead. */
export function listContainers(store: Store): (ContainerState & { alive: boolean })[] {
  const out: (ContainerState & { alive: boolean })[] = [];
  for (const id of store.containerIds()) {
    const s = stateOf(store, id);
    if (s) out.push(s);
  }
  return out.sort((a, b) => b.created.localeCompare(a.created));
}
