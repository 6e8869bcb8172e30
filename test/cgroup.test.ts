// cgroups on the real kernel: limits written, processes joined, the limits
// enforced (OOM kill, fork refusal, CPU quota), and nothing left behind.
// Every cgroup lives under a parent of this test run's own, so other runs
// and other glassbox processes on the host cannot disturb the counts.

import t, { type Test } from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmdirSync, rmSync } from 'node:fs';
import { LiveHelper } from '../src/runtime/helper/live.js';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  createCgroup,
  detectCgroups,
  DEVICE_RULES,
  openCgroup,
  parseCpus,
  parseMemory,
  removeStale,
  warmCgroupMoves,
  type Cgroup,
  type CgroupFiles,
  type CgroupLayout,
} from '../src/runtime/cgroup/index.js';
import { v1Places } from '../src/runtime/cgroup/v1.js';
import { applyV2, enableV2 } from '../src/runtime/cgroup/v2.js';
import { GlassboxError } from '../src/util/errors.js';

const PARENT = `glassbox-test-${process.pid}`;
const MiB = 2 ** 20;

let live: CgroupLayout | undefined;
let noCgroups = '';
try {
  live = detectCgroups();
} catch (e) {
  noCgroups = (e as Error).message;
}
const needRoot = process.getuid?.() !== 0 ? 'writing cgroups needs root' : noCgroups ? `no cgroups here: ${noCgroups}` : false;
if (needRoot) t.comment(`skipping the kernel tests: ${needRoot}`);

/** The root of every hierarchy the host mounts. */
function hierarchyRoots(layout: CgroupLayout): string[] {
  return [...new Set([...Object.values(layout.v1Roots), ...(layout.v2Root ? [layout.v2Root] : [])])];
}

/** Directories under the test parent, in any hierarchy. */
function leftovers(): string[] {
  if (!live) return [];
  const out: string[] = [];
  for (const root of hierarchyRoots(live)) {
    const base = join(root, PARENT);
    if (!existsSync(base)) continue;
    for (const e of readdirSync(base, { withFileTypes: true })) if (e.isDirectory()) out.push(join(base, e.name));
  }
  return out;
}

interface Held {
  child: ChildProcess;
  pid: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
  /** Let the script past its `read`: it runs only once it has been joined. */
  go(): void;
}

/** sh waiting on stdin before it runs `script`, so it can be joined before it allocates or forks. */
function held(t: Test, script: string): Held {
  const child = spawn('sh', ['-c', `read x; ${script}`], { stdio: ['pipe', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return { child, pid: child.pid!, exited, stderr: () => err, go: () => child.stdin!.write('go\n') };
}

/** Destroy at the end of the test whatever happened, then check that nothing is left. */
function cleanup(t: Test, cg: Cgroup): void {
  t.teardown(async () => {
    await cg.destroy();
    for (const p of cg.paths) if (existsSync(p)) throw new Error(`${p} is left after destroy`);
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// ------------------------------------------------------------------ detection

const V2_HOST = `22 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw
26 22 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,seclabel,nsdelegate,memory_recursiveprot
`;

const V1_HOST = `22 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
25 22 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
27 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
30 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,cpu,cpuacct
31 25 0:28 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,memory
32 25 0:29 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,pids
33 25 0:30 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,net_cls,net_prio
34 25 0:31 / /sys/fs/cgroup/devices rw,nosuid,nodev,noexec,relatime shared:18 - cgroup cgroup rw,devices
`;

const HYBRID_HOST = V1_HOST.replace(
  '27 25',
  '26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate\n27 25',
);

t.test('detection on this host matches what the kernel says at the mount points', async (t) => {
  t.ok(live, noCgroups || 'detected');
  if (!live) return;
  // runc's own test: cgroup.controllers at /sys/fs/cgroup means pure v2;
  // at /sys/fs/cgroup/unified (systemd's cgroup2 mount), hybrid.
  const expected = existsSync('/sys/fs/cgroup/cgroup.controllers') ? 'v2' : existsSync('/sys/fs/cgroup/unified/cgroup.controllers') ? 'hybrid' : 'v1';
  t.equal(live.mode, expected, `this host is ${live.mode}`);
  if (live.mode === 'hybrid') t.equal(live.v2Root, '/sys/fs/cgroup/unified');
  if (live.mode !== 'v2') t.ok(live.v1Roots.memory, 'the v1 memory controller is found');
});

t.test('detection from mountinfo text: pure v2, pure v1, hybrid, none', async (t) => {
  t.same(detectCgroups(V2_HOST), { mode: 'v2', v2Root: '/sys/fs/cgroup', v1Roots: {} });

  const v1 = detectCgroups(V1_HOST);
  t.equal(v1.mode, 'v1');
  t.equal(v1.v2Root, undefined);
  t.equal(v1.v1Roots.cpu, '/sys/fs/cgroup/cpu,cpuacct', 'co-mounted cpu,cpuacct');
  t.equal(v1.v1Roots.cpuacct, '/sys/fs/cgroup/cpu,cpuacct');
  t.equal(v1.v1Roots.memory, '/sys/fs/cgroup/memory');
  t.equal(v1.v1Roots['name=systemd'], '/sys/fs/cgroup/systemd');
  t.notOk('xattr' in v1.v1Roots, 'mount options are not controllers');
  // Co-mounted controllers share one directory per container.
  t.same(
    v1Places(v1.v1Roots, { memoryBytes: 64 * MiB }).map((p) => [p.root, p.controllers.join(',')]),
    [
      ['/sys/fs/cgroup/memory', 'memory'],
      ['/sys/fs/cgroup/cpu,cpuacct', 'cpu,cpuacct'],
      ['/sys/fs/cgroup/pids', 'pids'],
      ['/sys/fs/cgroup/devices', 'devices'],
      ['/sys/fs/cgroup/systemd', 'name=systemd'],
    ],
  );

  const hy = detectCgroups(HYBRID_HOST);
  t.equal(hy.mode, 'hybrid');
  t.equal(hy.v2Root, '/sys/fs/cgroup/unified');

  // systemd's legacy named hierarchy beside a real cgroup2 tree holds no limits.
  t.equal(detectCgroups(V2_HOST + '40 26 0:40 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n').mode, 'v2');
  // A later mount at the same place hides the earlier one.
  t.equal(detectCgroups(V2_HOST + '41 22 0:41 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n' + V1_HOST.split('\n').slice(2).join('\n')).mode, 'v1');
  // mountinfo escapes spaces.
  t.equal(detectCgroups('26 22 0:23 / /mnt/my\\040cgroups rw - cgroup2 cgroup2 rw\n').v2Root, '/mnt/my cgroups');
  t.throws(() => detectCgroups('22 1 0:21 / /sys rw - sysfs sysfs rw\n'), /no cgroup filesystem is mounted/);
});

t.test('on a pure v2 host the controllers are enabled on the way down and the limits written in the leaf', async (t) => {
  // A recording double of cgroupfs: a pure v2 host cannot be made on this one.
  const writes: [string, string][] = [];
  const files: CgroupFiles = {
    write: async (path, value, why) => {
      t.ok(why.length > 20, `${path} has a why`);
      writes.push([path, value]);
    },
    read: async (path) => (path.endsWith('cgroup.controllers') ? 'cpuset cpu io memory hugetlb pids rdma misc\n' : undefined),
    exists: async (path) => path.endsWith('memory.swap.max'),
  };
  const limits = { memoryBytes: 64 * MiB, cpus: 0.5, pidsMax: 20 };
  await enableV2(files, '/sys/fs/cgroup', ['glassbox'], limits);
  await applyV2(files, '/sys/fs/cgroup/glassbox/c1', limits);
  t.same(writes, [
    ['/sys/fs/cgroup/cgroup.subtree_control', '+memory +cpu +pids'],
    ['/sys/fs/cgroup/glassbox/cgroup.subtree_control', '+memory +cpu +pids'],
    ['/sys/fs/cgroup/glassbox/c1/memory.max', String(64 * MiB)],
    ['/sys/fs/cgroup/glassbox/c1/memory.swap.max', String(64 * MiB)],
    ['/sys/fs/cgroup/glassbox/c1/cpu.max', '50000 100000'],
    ['/sys/fs/cgroup/glassbox/c1/pids.max', '20'],
  ]);
  const noMemory: CgroupFiles = { ...files, read: async () => 'cpu pids\n' };
  await t.rejects(enableV2(noMemory, '/sys/fs/cgroup', ['glassbox'], limits), /the memory controller is not available here/);
});

// ------------------------------------------------------------ on the kernel

t.test('limits are written to the files docker and runc write', { skip: needRoot }, async (t) => {
  const name = `limits-${process.pid}`;
  const cg = await createCgroup(name, { memoryBytes: 64 * MiB, cpus: 0.5, pidsMax: 20 });
  cleanup(t, cg);
  t.equal(cg.mode, live!.mode);
  for (const p of cg.paths) t.ok(p.endsWith(`/glassbox/${name}`), `${p} is under the default parent`);
  for (const w of cg.written) {
    t.ok(w.why.length > 5, `${w.path}: ${w.why}`);
    // devices.deny and devices.allow are write-only: their result is devices.list.
    if (/devices\.(deny|allow)$/.test(w.path)) continue;
    t.equal(readFileSync(w.path, 'utf8').trim(), w.value, `${w.path} holds ${w.value}`);
  }
  const devicesDir = cg.paths.find((p) => p.includes('/devices/'));
  if (devicesDir) t.match(readFileSync(`${devicesDir}/devices.list`, 'utf8'), /^c 1:3 rwm$/m, 'the devices cgroup allows /dev/null, and only the default list');
  const byFile = new Map(cg.written.map((w) => [w.path.split('/').pop()!, w.value]));
  if (cg.mode === 'v2') {
    t.equal(byFile.get('memory.max'), String(64 * MiB));
    t.equal(byFile.get('cpu.max'), '50000 100000');
    if (byFile.has('memory.swap.max')) t.equal(byFile.get('memory.swap.max'), String(64 * MiB), 'docker: memory+swap = 2 × memory, so swap = memory');
  } else {
    t.equal(byFile.get('memory.limit_in_bytes'), String(64 * MiB));
    t.equal(byFile.get('cpu.cfs_period_us'), '100000');
    t.equal(byFile.get('cpu.cfs_quota_us'), '50000');
    if (existsSync(join(cg.paths[0]!, 'memory.memsw.limit_in_bytes'))) {
      t.equal(byFile.get('memory.memsw.limit_in_bytes'), String(128 * MiB), 'docker: memory+swap = 2 × memory');
    }
  }
  t.equal(byFile.get('pids.max'), '20');
  const s = await cg.stats();
  t.equal(s.memoryLimit, 64 * MiB);
  t.equal(s.pidsMax, 20);
  t.equal(s.pids, 0);
  await cg.destroy();
  for (const p of cg.paths) t.notOk(existsSync(p), `${p} is removed`);
});

t.test('a joined process is in the glassbox cgroup of every hierarchy, and destroy kills it and removes every directory', { skip: needRoot }, async (t) => {
  const name = 'join';
  const cg = await createCgroup(name, { memoryBytes: 64 * MiB, cpus: 1, pidsMax: 50 }, { parent: PARENT });
  cleanup(t, cg);
  const expectedDirs = live!.mode === 'v2' ? 1 : live!.mode === 'hybrid' ? 6 : 5;
  t.ok(cg.paths.length >= Math.min(expectedDirs, 2), `directories: ${cg.paths.join(' ')}`);
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_c, sig) => resolve(sig)));
  t.teardown(() => void child.kill('SIGKILL'));
  await cg.join(child.pid!);

  const lines = readFileSync(`/proc/${child.pid}/cgroup`, 'utf8').trim().split('\n');
  const want = `/${PARENT}/${name}`;
  const inHierarchy = (controllers: string) => lines.find((l) => l.split(':')[1]!.split(',').includes(controllers) || (controllers === '' && l.startsWith('0::')));
  const used = live!.mode === 'v2' ? [''] : ['memory', 'cpu', 'cpuacct', 'pids', 'devices', ...(live!.v1Roots['name=systemd'] ? ['name=systemd'] : []), ...(live!.mode === 'hybrid' ? [''] : [])];
  for (const c of used) t.equal(inHierarchy(c)?.split(':')[2], want, `${c || 'cgroup2'}: ${want}`);
  t.same(await cg.procs(), [child.pid], 'procs() lists it');
  t.equal((await cg.stats()).pids, 1);
  const joins = cg.written.filter((w) => w.path.endsWith('cgroup.procs'));
  t.equal(joins.length, cg.paths.length, 'one cgroup.procs write per hierarchy');

  await cg.destroy();
  t.equal(await exited, 'SIGKILL', 'destroy killed it');
  t.notOk(alive(child.pid!), 'the process is gone');
  for (const p of cg.paths) t.notOk(existsSync(p), `${p} is removed`);
  t.same(leftovers(), [], 'nothing under the test parent in any hierarchy');
  t.same(await cg.procs(), []);
});

t.test('a process that allocates past the memory limit is OOM-killed', { skip: needRoot }, async (t) => {
  const cg = await createCgroup('oom', { memoryBytes: 32 * MiB }, { parent: PARENT });
  cleanup(t, cg);
  // /usr/bin/python3, not a pyenv shim: the script must exec straight into the allocator.
  const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  const h = held(t, `exec ${python} -c "b = b'x' * (256 * 2**20); import time; time.sleep(1)"`);
  await cg.join(h.pid);
  h.go();
  const end = await Promise.race([h.exited, sleep(15_000, 'timeout' as const, { ref: false })]);
  t.not(end, 'timeout', 'it ended');
  if (end === 'timeout') return;
  t.equal(end.signal, 'SIGKILL', `killed by SIGKILL (stderr: ${h.stderr().trim() || 'none'})`);
  const s = await cg.stats();
  t.ok((s.oomKills ?? 0) >= 1, `the cgroup counted ${s.oomKills} OOM kill(s)`);
  t.equal(s.memoryLimit, 32 * MiB);
  await cg.destroy();
  t.same(leftovers(), []);
});

t.test('a fork loop stops at the pids limit', { skip: needRoot }, async (t) => {
  const cg = await createCgroup('pids', { pidsMax: 10 }, { parent: PARENT });
  cleanup(t, cg);
  const h = held(t, 'for i in $(seq 30); do sleep 3 & done; wait');
  await cg.join(h.pid);
  h.go();
  let most = 0;
  const until = Date.now() + 1000;
  while (Date.now() < until) {
    most = Math.max(most, (await cg.stats()).pids ?? 0);
    await sleep(20);
  }
  t.ok(most <= 10, `at most ${most} tasks at once`);
  t.ok(most >= 5, `the loop did fork (${most} tasks seen)`);
  const pidsDir = cg.paths.find((p) => existsSync(join(p, 'pids.events')))!;
  const refused = Number(/max (\d+)/.exec(readFileSync(join(pidsDir, 'pids.events'), 'utf8'))?.[1]);
  t.ok(refused > 0, `the kernel refused ${refused} fork(s) (pids.events)`);
  const peak = join(pidsDir, 'pids.peak');
  if (existsSync(peak)) t.ok(Number(readFileSync(peak, 'utf8')) <= 10, 'pids.peak never passed the limit');
  await cg.destroy();
  // dash gives up on the script at its first failed fork; bash would retry it.
  const end = await h.exited;
  t.ok(end.signal === 'SIGKILL' || end.code !== 0, `the shell ended (${end.signal ?? `exit ${end.code}`})`);
  t.match(h.stderr(), /Cannot fork|Resource temporarily unavailable/, `the shell saw its forks fail: ${h.stderr().split('\n')[0]}`);
  t.same(leftovers(), []);
});

t.test('cpus 0.5 holds a busy loop near half a core', { skip: needRoot }, async (t) => {
  const cg = await createCgroup('cpu', { cpus: 0.5 }, { parent: PARENT });
  cleanup(t, cg);
  const h = held(t, 'while :; do :; done');
  await cg.join(h.pid);
  h.go();
  await sleep(300);
  const u0 = (await cg.stats()).cpuUsageUsec!;
  const t0 = process.hrtime.bigint();
  await sleep(2000);
  const u1 = (await cg.stats()).cpuUsageUsec!;
  const wallUsec = Number(process.hrtime.bigint() - t0) / 1000;
  const share = (u1 - u0) / wallUsec;
  t.ok(share >= 0.3 && share <= 0.7, `the loop used ${share.toFixed(2)} CPU-seconds per second`);
  await cg.destroy();
  t.equal((await h.exited).signal, 'SIGKILL');
  t.same(leftovers(), []);
});

t.test("parseMemory and parseCpus take docker's forms and refuse the rest with one clear line", async (t) => {
  const mem: [string, number][] = [
    ['512m', 512 * MiB],
    ['1g', 2 ** 30],
    ['1G', 2 ** 30],
    ['100000000b', 100_000_000],
    ['65536k', 64 * MiB],
    ['64MB', 64 * MiB],
    ['1GiB', 2 ** 30],
    ['1.5g', 1.5 * 2 ** 30],
    ['7340032', 7 * MiB],
    ['0', 0],
  ];
  for (const [s, n] of mem) t.equal(parseMemory(s), n, `${s} = ${n}`);
  for (const s of ['12q', '', 'm', '-1m', '1 g b', '1gb2', '1gibb', '1xb', '64k', '1.2.3m']) {
    const e = t.throws(() => parseMemory(s)) as GlassboxError;
    t.ok(e instanceof GlassboxError, `${JSON.stringify(s)}: ${e.message}`);
    t.ok(e.message.startsWith(`invalid memory value ${JSON.stringify(s)}: `), 'names the value');
    t.notMatch(e.message, /\n/, 'one line');
  }
  t.equal((t.throws(() => parseMemory('12q')) as Error).message, 'invalid memory value "12q": unknown unit "q": use b, k, m, g, t or p');
  t.match((t.throws(() => parseMemory('64k')) as Error).message, /minimum is 6m/);

  const cpus: [string, number][] = [
    ['0.5', 0.5],
    ['1', 1],
    ['.25', 0.25],
    ['0.01', 0.01],
    ['0', 0],
  ];
  for (const [s, n] of cpus) t.equal(parseCpus(s), n, `${s} = ${n}`);
  for (const s of ['abc', '', '-1', '1.2.3', '0.5c', '0.001', '99999', '0.1234567891', '1e2']) {
    const e = t.throws(() => parseCpus(s)) as GlassboxError;
    t.ok(e instanceof GlassboxError && e.message.startsWith(`invalid cpus value ${JSON.stringify(s)}: `), `${JSON.stringify(s)}: ${e.message}`);
  }
});

t.test('removeStale removes a leftover cgroup whose owner is gone, with its processes', { skip: needRoot }, async (t) => {
  // As if glassbox was SIGKILLed: the cgroup and its process outlive it.
  const orphan = await createCgroup('orphan', { pidsMax: 20 }, { parent: PARENT });
  cleanup(t, orphan);
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_c, sig) => resolve(sig)));
  t.teardown(() => void child.kill('SIGKILL'));
  await orphan.join(child.pid!);
  const owned = await createCgroup('owned', {}, { parent: PARENT });
  cleanup(t, owned);

  // Without an owner check, a cgroup with a process, or a fresh empty one, is kept.
  t.same(await removeStale(PARENT), [], 'nothing removed by default');

  const removed = await removeStale(PARENT, (name) => name === 'owned');
  t.same(removed.sort(), [...orphan.paths].sort(), 'the orphan is removed in every hierarchy');
  t.equal(await exited, 'SIGKILL', 'its process is killed');
  for (const p of owned.paths) t.ok(existsSync(p), `${p} is kept`);
  t.ok(await openCgroup('owned', { parent: PARENT }), 'openCgroup finds the one kept');
  t.equal(await openCgroup('orphan', { parent: PARENT }), undefined);
  await owned.destroy();
  t.same(leftovers(), []);
});

t.test('destroy is idempotent, and a refused value or a taken name leaves nothing behind', { skip: needRoot }, async (t) => {
  const cg = await createCgroup('twice', { memoryBytes: 16 * MiB }, { parent: PARENT });
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  t.teardown(() => void child.kill('SIGKILL'));
  await cg.join(child.pid!);
  await Promise.all([cg.destroy(), cg.destroy()]);
  await cg.destroy();
  t.same(leftovers(), [], 'destroyed once, called three times');

  // The kernel refuses these after directories exist in several hierarchies.
  const quotaFile = live!.mode === 'v2' ? 'cpu.max' : 'cpu.cfs_quota_us';
  const refused: [object, RegExp][] = [
    [{ memoryBytes: 64 * MiB, pidsMax: -5 }, new RegExp(`^write /sys/fs/cgroup/\\S*pids\\S*/${PARENT}/bad/pids\\.max: EINVAL`)],
    [{ cpus: 0.001 }, new RegExp(`^write /sys/fs/cgroup/\\S+/${PARENT}/bad/${quotaFile.replace('.', '\\.')}: EINVAL`)],
  ];
  for (const [limits, re] of refused) {
    await t.rejects(createCgroup('bad', limits, { parent: PARENT }), re, `refused: ${JSON.stringify(limits)}`);
    t.same(leftovers(), [], 'nothing left after the refusal');
  }
  await t.rejects(createCgroup('bad', { memoryBytes: NaN }, { parent: PARENT }), /invalid cgroup limit memoryBytes=NaN/);
  await t.rejects(createCgroup('../x', {}, { parent: PARENT }), /invalid cgroup name/);

  const first = await createCgroup('taken', {}, { parent: PARENT });
  cleanup(t, first);
  await t.rejects(createCgroup('taken', {}, { parent: PARENT }), /^mkdir \S+\/taken: EEXIST \(a cgroup of this name already exists\)/);
  for (const p of first.paths) t.ok(existsSync(p), `the first one's ${p} is untouched`);
  await first.destroy();
  t.same(leftovers(), []);
});

t.test("the v2 code on this hybrid host's cgroup2 tree: join, procs, cgroup.kill, and a missing controller refused", { skip: needRoot || (live?.mode !== 'hybrid' && 'only a hybrid host has a second, controller-less cgroup2 tree') }, async (t) => {
  const layout: CgroupLayout = { mode: 'v2', v2Root: live!.v2Root!, v1Roots: {} };
  const cg = await createCgroup('v2', {}, { parent: PARENT, layout });
  cleanup(t, cg);
  t.same(cg.paths, [join(live!.v2Root!, PARENT, 'v2')]);
  t.same(cg.written, [], 'no controller to enable, no limit to write');
  const h = held(t, 'sleep 30 & sleep 30 & wait');
  await cg.join(h.pid);
  h.go();
  await sleep(100);
  t.equal((await cg.procs()).length, 3, 'sh and its two children');
  await cg.destroy();
  t.equal((await h.exited).signal, 'SIGKILL', 'cgroup.kill killed them all');
  await t.rejects(createCgroup('v2', { memoryBytes: 64 * MiB }, { parent: PARENT, layout }), /the memory controller is not available here/);
  t.same(leftovers(), []);
});

t.test('nothing is left under the test parent in any hierarchy', { skip: needRoot }, async (t) => {
  t.same(leftovers(), []);
  for (const root of hierarchyRoots(live!)) {
    const base = join(root, PARENT);
    if (existsSync(base)) rmdirSync(base);
    t.notOk(existsSync(base), `${base} removed`);
  }
});

const cgroup2 = detectCgroups().v2Root;
t.test('on cgroup2, a BPF device program lets a process open only the default devices', { skip: cgroup2 ? false : 'no cgroup2 mount on this host: the v2 device program has nowhere to attach' }, async (t) => {
  const v2 = cgroup2!;
  // A cgroup2 directory of its own, and a shell that moves into it: on a
  // hybrid host the v1 devices controller allows it everything, so only the
  // program can refuse.
  const dir = join(v2, `glassbox-devices-${process.pid}`);
  mkdirSync(dir);
  const nodes = mkdtempSync('/tmp/glassbox-devices-');
  t.teardown(() => {
    rmSync(nodes, { recursive: true, force: true });
    rmdirSync(dir);
  });
  const helper = await LiveHelper.start({ stdio: ['ignore', 'ignore', 'ignore'] });
  try {
    await helper.call('device_filter', { path: dir, rules: DEVICE_RULES });
  } finally {
    await helper.stop();
  }
  const r = spawnSync(
    'sh',
    // cat, not ":": a failed redirection of a special builtin ends sh.
    ['-c', `echo $$ > ${dir}/cgroup.procs && mknod ${nodes}/null c 1 3 && mknod ${nodes}/kmsg c 1 11 && cat < ${nodes}/null && echo null-ok; cat < ${nodes}/kmsg > /dev/null && echo kmsg-ok; head -c1 < /dev/urandom > /dev/null && echo urandom-ok; true`],
    { encoding: 'utf8' },
  );
  t.match(r.stdout, /null-ok/, 'mknod of any character device, and /dev/null (1:3) opens');
  t.match(r.stdout, /urandom-ok/, '/dev/urandom (1:9) opens');
  t.notMatch(r.stdout, /kmsg-ok/, '/dev/kmsg (1:11) is not on the list');
  t.match(r.stderr, /kmsg: Operation not permitted/);
});

t.test('warmCgroupMoves writes glassbox\'s own PID into the cgroup it is in, and moves nothing', { skip: needRoot }, async (t) => {
  const before = readFileSync('/proc/self/cgroup', 'utf8');
  const warm = warmCgroupMoves();
  const w = await warm.first;
  t.ok(w, 'it wrote');
  t.match(w!.file, /\/cgroup\.procs$/);
  t.ok(w!.ms >= 0);
  // The file is the one of this process's own cgroup: the PID is listed in it.
  t.ok(readFileSync(w!.file, 'utf8').split('\n').includes(String(process.pid)), `${w!.file} lists this process`);
  const open = () => readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === w!.file;
    } catch {
      return false;
    }
  }).length;
  await sleep(20);
  t.equal(open(), 1, 'kept open for the repeated writes');
  warm.stop();
  t.equal(open(), 0, 'closed at stop');
  t.equal(readFileSync('/proc/self/cgroup', 'utf8'), before, 'every hierarchy still has this process where it was');
});
