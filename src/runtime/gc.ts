// What a killed glassbox leaves behind, found and removed. Every container
// directory records its owner (state.ts). The helper and the
// container die with their owner (PR_SET_PDEATHSIG), and their mounts with
// their mount namespace; the directory and the cgroups stay until this runs.
import * as fs from 'node:fs';
import { join } from 'node:path';
import type { Store } from '../image/store.js';
import { errnoOf } from '../util/errors.js';
import { openCgroup, removeStale } from './cgroup/index.js';
import { ownerAlive, readState } from './state.js';

/** A directory without a state file is one being created: give it this long. */
const CREATE_GRACE_MS = 60_000;

export interface GcResult {
  containers: string[];
  cgroups: string[];
}

export async function gc(store: Store): Promise<GcResult> {
  const removed: GcResult = { containers: [], cgroups: [] };
  const live = new Set<string>();
  for (const id of store.containerIds()) {
    const dir = join(store.root, 'containers', id);
    const state = readState(dir);
    let age = 0;
    try {
      age = Date.now() - fs.statSync(dir).mtimeMs;
    } catch (e) {
      if (errnoOf(e) === 'ENOENT') continue;
      throw e;
    }
    // An exited container is kept until glassbox rm, as docker keeps it.
    if (state ? state.status === 'exited' || ownerAlive(state.owner) : age < CREATE_GRACE_MS) {
      live.add(id);
      continue;
    }
    const cg = await openCgroup(id, { parent: store.cgroupParent });
    if (cg) {
      await cg.destroy();
      removed.cgroups.push(...cg.paths);
    }
    fs.rmSync(dir, { recursive: true, force: true });
    removed.containers.push(id);
  }
  // Cgroups whose container directory is gone (glassbox killed between removing one and the other).
  removed.cgroups.push(...(await removeStale(store.cgroupParent, (name) => live.has(name))));
  return removed;
}
