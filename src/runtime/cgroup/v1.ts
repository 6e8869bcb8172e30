// cgroup v1: one tree per controller (or per group of co-mounted ones, like
// "cpu,cpuacct"), each with its own files, so a container is one directory in
// every tree it uses and is joined in each. Kernel reference:
// Documentation/admin-guide/cgroup-v1/{memory,cgroups,pids}.rst and sched-bwc.rst.

import { join } from 'node:path';
import { GlassboxError } from '../../util/errors.js';
import type { CgroupFiles, CgroupLimits, CgroupStats } from './index.js';
import { CPU_PERIOD_US, cpuQuota, dropUndefined, keyed } from './v2.js';

/**
 * The controllers glassbox uses, in runc's order (libcontainer's fs.go subsystems):
 * memory, cpu and pids carry the limits; cpuacct the CPU time the stats report.
 */
export const V1_CONTROLLERS = ['memory', 'cpu', 'cpuacct', 'pids', 'devices'] as const;

/** The named hierarchy systemd keeps for its own process tracking, joined as runc joins it. */
export const SYSTEMD_NAMED = 'name=systemd';

/** Every controller name the kernel can mount as cgroup v1 (kernel/cgroup, `cat /proc/cgroups`). */
export const V1_KNOWN = new Set([
  'cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'net_cls', 'net_prio', 'blkio', 'perf_event', 'hugetlb', 'pids', 'rdma', 'misc', 'debug',
]);

export interface V1Place {
  /** Mount point of the hierarchy, such as /sys/fs/cgroup/memory or /sys/fs/cgroup/cpu,cpuacct. */
  root: string;
  /** What glassbox uses it for: controllers mounted there, or 'name=systemd'. */
  controllers: string[];
}

/**
 * The hierarchies a container gets a directory in: one per distinct mount of
 * the controllers glassbox uses (co-mounted cpu,cpuacct is one directory),
 * then the named systemd hierarchy when mounted.
 */
export function v1Places(roots: Record<string, string>, limits: CgroupLimits): V1Place[] {
  const need: string[] = [];
  if (limits.memoryBytes !== undefined) need.push('memory');
  if (limits.cpus !== undefined) need.push('cpu');
  if (limits.pidsMax !== undefined) need.push('pids');
  const missing = need.filter((c) => !roots[c]);
  if (missing.length > 0) {
    throw new GlassboxError(`the cgroup v1 ${missing.join(', ')} controller${missing.length > 1 ? 's are' : ' is'} not mounted (see /proc/self/mountinfo)`, {
      op: 'cgroup',
      code: 'ENOENT',
    });
  }
  const places: V1Place[] = [];
  for (const c of V1_CONTROLLERS) {
    const root = roots[c];
    if (!root) continue;
    const same = places.find((p) => p.root === root);
    if (same) same.controllers.push(c);
    else places.push({ root, controllers: [c] });
  }
  const named = roots[SYSTEMD_NAMED];
  if (named && !places.some((p) => p.root === named)) places.push({ root: named, controllers: [SYSTEMD_NAMED] });
  return places;
}

/** The directory that holds a controller's files, from the container's directories. */
export type DirOf = (controller: string) => string | undefined;

export async function applyV1(files: CgroupFiles, dirOf: DirOf, limits: CgroupLimits): Promise<void> {
  if (limits.memoryBytes !== undefined) {
    const dir = dirOf('memory')!;
    const m = limits.memoryBytes;
    await files.write(join(dir, 'memory.limit_in_bytes'), String(m), `--memory: above ${m} bytes the kernel reclaims what it can, then OOM-kills a process of this cgroup`);
    // Docker without --memory-swap sets memory+swap to 2 × --memory (moby
    // adaptContainerSettings); v1 has one file for memory and swap together.
    // Written after memory.limit_in_bytes because the kernel refuses a memsw
    // below the memory limit, and a new cgroup's memsw is unlimited. The file
    // exists only when the kernel accounts swap (swapaccount=1); docker then
    // warns "Memory limited without swap" and writes nothing.
    if (await files.exists(join(dir, 'memory.memsw.limit_in_bytes'))) {
      await files.write(
        join(dir, 'memory.memsw.limit_in_bytes'),
        String(2 * m),
        `docker's default --memory-swap is 2 × --memory; cgroup v1 limits memory plus swap in this one file, so ${m} of RAM may add ${m} of swap`,
      );
    }
  }
  if (limits.cpus !== undefined) {
    const dir = dirOf('cpu')!;
    const quota = cpuQuota(limits.cpus);
    await files.write(join(dir, 'cpu.cfs_period_us'), String(CPU_PERIOD_US), `--cpus: runc and docker count the CPU quota per ${CPU_PERIOD_US} µs period (the kernel default, written to be sure)`);
    await files.write(
      join(dir, 'cpu.cfs_quota_us'),
      String(quota),
      `--cpus ${limits.cpus}: the cgroup may run ${quota} µs in every ${CPU_PERIOD_US} µs period, summed over all CPUs, then waits for the next period`,
    );
  }
  if (limits.pidsMax !== undefined) {
    await files.write(join(dirOf('pids')!, 'pids.max'), String(limits.pidsMax), `--pids-limit: fork and clone fail with EAGAIN once the cgroup holds ${limits.pidsMax} tasks`);
  }
  const devices = dirOf('devices');
  if (devices) {
    // CAP_MKNOD is among docker's capabilities: what keeps a container from
    // making /dev/sda and reading the host's disk is this list.
    await files.write(join(devices, 'devices.deny'), 'a', 'deny every device first: the container may open only those allowed below');
    for (const [rule, why] of DEVICE_ALLOW) await files.write(join(devices, 'devices.allow'), rule, why);
  }
}

/** runc's default allowed devices (libcontainer/specconv AllowedDevices), as docker uses them. */
export const DEVICE_ALLOW: [string, string][] = [
  ['c *:* m', 'mknod of any character device is allowed, opening it is not'],
  ['b *:* m', 'mknod of any block device is allowed, opening it is not'],
  ['c 1:3 rwm', '/dev/null'],
  ['c 1:5 rwm', '/dev/zero'],
  ['c 1:7 rwm', '/dev/full'],
  ['c 1:8 rwm', '/dev/random'],
  ['c 1:9 rwm', '/dev/urandom'],
  ['c 5:0 rwm', '/dev/tty'],
  ['c 5:1 rwm', '/dev/console'],
  ['c 5:2 rwm', '/dev/ptmx'],
  ['c 136:* rwm', '/dev/pts/*, the pseudo-terminals'],
  ['c 10:200 rwm', '/dev/net/tun'],
];

/** v1's "unlimited" is the largest page-aligned signed 64-bit value; anything this large is no limit. */
const V1_UNLIMITED = 2 ** 62;

export async function statsV1(files: CgroupFiles, dirOf: DirOf): Promise<CgroupStats> {
  const s: CgroupStats = {};
  const num = (v: string | undefined): number | undefined => {
    if (v === undefined) return undefined;
    const t = v.trim();
    return t === 'max' || t === '' ? undefined : Number(t);
  };
  const memory = dirOf('memory');
  if (memory) {
    s.memoryBytes = num(await files.read(join(memory, 'memory.usage_in_bytes')));
    const limit = num(await files.read(join(memory, 'memory.limit_in_bytes')));
    s.memoryLimit = limit !== undefined && limit < V1_UNLIMITED ? limit : undefined;
    // oom_kill in memory.oom_control exists since Linux 4.13.
    s.oomKills = keyed(await files.read(join(memory, 'memory.oom_control')), 'oom_kill');
  }
  const cpuacct = dirOf('cpuacct');
  if (cpuacct) {
    const ns = num(await files.read(join(cpuacct, 'cpuacct.usage')));
    s.cpuUsageUsec = ns === undefined ? undefined : Math.floor(ns / 1000);
  }
  const pids = dirOf('pids');
  if (pids) {
    s.pids = num(await files.read(join(pids, 'pids.current')));
    s.pidsMax = num(await files.read(join(pids, 'pids.max')));
  }
  return dropUndefined(s);
}
