// cgroup v2: one tree, every controller in it. A controller's files appear in
// a cgroup only after its parent lists it in cgroup.subtree_control, so the
// limits are two steps: enable on the way down, then write in the leaf.
// Kernel reference: Documentation/admin-guide/cgroup-v2.rst.

import { join } from 'node:path';
import { GlassboxError } from '../../util/errors.js';
import type { CgroupFiles, CgroupLimits, CgroupStats } from './index.js';

/** The controllers glassbox limits and reads; enabled for the container when the host has them. */
export const V2_CONTROLLERS = ['memory', 'cpu', 'pids'] as const;

/** The period docker and runc use for --cpus: quota is counted in µs per 100 ms. */
export const CPU_PERIOD_US = 100_000;

/** Controllers a set of limits cannot do without. */
export function requiredV2(limits: CgroupLimits): string[] {
  const need: string[] = [];
  if (limits.memoryBytes !== undefined) need.push('memory');
  if (limits.cpus !== undefined) need.push('cpu');
  if (limits.pidsMax !== undefined) need.push('pids');
  return need;
}

/**
 * Enable memory, cpu and pids in cgroup.subtree_control of the root and of
 * every parent level down to (not including) the container's own directory.
 * A controller the host lacks is skipped unless a limit needs it.
 */
export async function enableV2(files: CgroupFiles, root: string, parentSegments: string[], limits: CgroupLimits): Promise<void> {
  const need = requiredV2(limits);
  let dir = root;
  for (let i = 0; i <= parentSegments.length; i++) {
    if (i > 0) dir = join(dir, parentSegments[i - 1]!);
    const available = ((await files.read(join(dir, 'cgroup.controllers'))) ?? '').split(/\s+/).filter(Boolean);
    const missing = need.filter((c) => !available.includes(c));
    if (missing.length > 0) {
      throw new GlassboxError(`the ${missing.join(', ')} controller${missing.length > 1 ? 's are' : ' is'} not available here (cgroup.controllers: "${available.join(' ')}")`, {
        op: 'cgroup',
        subject: dir,
        code: 'ENOENT',
      });
    }
    const enable = V2_CONTROLLERS.filter((c) => available.includes(c));
    if (enable.length === 0) continue;
    await files.write(
      join(dir, 'cgroup.subtree_control'),
      enable.map((c) => `+${c}`).join(' '),
      `cgroup v2 shows a controller's files in a child only when the parent enables it here; ${i === 0 ? 'the root' : 'each level'} on the way down to the container must list ${enable.join(', ')}`,
    );
  }
}

/** Write the limits into the container's own directory. */
export async function applyV2(files: CgroupFiles, dir: string, limits: CgroupLimits): Promise<void> {
  if (limits.memoryBytes !== undefined) {
    const m = limits.memoryBytes;
    await files.write(join(dir, 'memory.max'), String(m), `--memory: above ${m} bytes the kernel reclaims what it can, then OOM-kills a process of this cgroup`);
    // Docker without --memory-swap sets memory+swap to twice --memory (moby
    // adaptContainerSettings). v2 limits swap on its own, so runc writes
    // memory+swap - memory (cgroups.ConvertMemorySwapToCgroupV2Value) = m.
    // The file exists only with swap accounting; docker then skips it too.
    if (await files.exists(join(dir, 'memory.swap.max'))) {
      await files.write(
        join(dir, 'memory.swap.max'),
        String(m),
        `docker's default --memory-swap is 2 × --memory (memory plus swap); cgroup v2 counts swap alone, so runc writes 2×${m} − ${m} = ${m}`,
      );
    }
  }
  if (limits.cpus !== undefined) {
    const quota = cpuQuota(limits.cpus);
    await files.write(
      join(dir, 'cpu.max'),
      `${quota} ${CPU_PERIOD_US}`,
      `--cpus ${limits.cpus}: the cgroup may run ${quota} µs in every ${CPU_PERIOD_US} µs period, summed over all CPUs, then waits for the next period`,
    );
  }
  if (limits.pidsMax !== undefined) {
    await files.write(join(dir, 'pids.max'), String(limits.pidsMax), `--pids-limit: fork and clone fail with EAGAIN once the cgroup holds ${limits.pidsMax} tasks`);
  }
}

/**
 * The CFS quota for a number of CPUs, as docker computes it: NanoCPUs × period / 1e9,
 * in integers, so 0.29 gives 29000 and not the float's 28999.
 */
export function cpuQuota(cpus: number): number {
  const nano = Math.round(cpus * 1e9);
  return Math.trunc((nano * CPU_PERIOD_US) / 1e9);
}

export async function statsV2(files: CgroupFiles, dir: string): Promise<CgroupStats> {
  const s: CgroupStats = {};
  const num = (v: string | undefined): number | undefined => {
    if (v === undefined) return undefined;
    const t = v.trim();
    return t === 'max' || t === '' ? undefined : Number(t);
  };
  s.memoryBytes = num(await files.read(join(dir, 'memory.current')));
  s.memoryLimit = num(await files.read(join(dir, 'memory.max')));
  s.cpuUsageUsec = keyed(await files.read(join(dir, 'cpu.stat')), 'usage_usec');
  s.pids = num(await files.read(join(dir, 'pids.current')));
  s.pidsMax = num(await files.read(join(dir, 'pids.max')));
  s.oomKills = keyed(await files.read(join(dir, 'memory.events')), 'oom_kill');
  return dropUndefined(s);
}

/** A "key value" line of a flat-keyed cgroup file (cpu.stat, memory.events, pids.events). */
export function keyed(text: string | undefined, key: string): number | undefined {
  if (text === undefined) return undefined;
  for (const line of text.split('\n')) {
    const [k, v] = line.split(/\s+/);
    if (k === key && v !== undefined) return Number(v);
  }
  return undefined;
}

export function dropUndefined<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}
