// What a container may leave on the host, looked for the same way by every test.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import path from 'node:path';
import type { Test } from 'tap';

/** glassbox-shim processes (a container's init is one until it execs), zombies included. */
export function shimPids(): number[] {
  const out = spawnSync('pgrep', ['glassbox-shim'], { encoding: 'utf8' }).stdout.trim();
  return out ? out.split('\n').map(Number) : [];
}

/** Container cgroups (64-hex names) under any glassbox parent (one per store), in every hierarchy. */
export function containerCgroups(): string[] {
  const out: string[] = [];
  const hierarchies = ['/sys/fs/cgroup', ...fs.readdirSync('/sys/fs/cgroup').map((h) => path.join('/sys/fs/cgroup', h))];
  for (const h of hierarchies) {
    let parents: string[];
    try {
      parents = fs.readdirSync(h).filter((n) => n.startsWith('glassbox'));
    } catch {
      continue;
    }
    for (const p of parents) {
      const dir = path.join(h, p);
      if (!fs.statSync(dir).isDirectory()) continue;
      for (const n of fs.readdirSync(dir)) if (/^[a-f0-9]{64}$/.test(n)) out.push(path.join(dir, n));
    }
  }
  return out;
}

/**
 * A test store's shared cgroup parent (glassbox-<hash>), in every hierarchy
 * where it is empty: it stays after its containers, as /docker does, and a
 * test's store goes whole. A parent that still holds a container is left for
 * the leftover checks to report.
 */
export function removeCgroupParent(parent: string): void {
  for (const h of ['/sys/fs/cgroup', ...fs.readdirSync('/sys/fs/cgroup').map((n) => path.join('/sys/fs/cgroup', n))]) {
    try {
      fs.rmdirSync(path.join(h, parent));
    } catch {
      // not in this hierarchy, or not empty
    }
  }
}

/**
 * Nothing of any container of the store at root may outlive its run: no
 * directory, no mount, no helper (shims alive before the test are not its),
 * no cgroup.
 */
export function assertNothingLeft(t: Test, root: string, shimsBefore: Set<number>): void {
  const containers = path.join(root, 'containers');
  t.same(fs.existsSync(containers) ? fs.readdirSync(containers) : [], [], 'no container directory left');
  t.notMatch(fs.readFileSync('/proc/self/mountinfo', 'utf8'), root, 'no mount of the store left on the host');
  t.same(shimPids().filter((p) => !shimsBefore.has(p)), [], 'no helper or container process left, not even a zombie');
  t.same(containerCgroups(), [], 'no container cgroup left in any hierarchy');
}
