// A paused run seen and driven from another terminal: glassbox inspect,
// shell and resume, through the control socket of the glassbox that runs it.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import type { Snapshot } from '../src/events/schema.js';
import { loadImages } from '../src/image/interchange.js';
import { Store } from '../src/image/store.js';
import { fixtureImages, repoRoot } from './lib/fixtures.js';

let root: string;
const bin = () => path.join(repoRoot(), 'dist/src/cli/bin.js');
const gb = (...args: string[]) => spawnSync(process.execPath, [bin(), '--root', root, ...args], { encoding: 'utf8', timeout: 30_000 });

t.before(async () => {
  root = fs.mkdtempSync('/tmp/glassbox-ctl-');
  await loadImages(await Store.open(root), (await fixtureImages()).layout('busybox'), { name: 'busybox' });
});
t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));

t.test('inspect, shell and resume a paused run from another terminal', async (t) => {
  // stdin stays open and silent: only `glassbox resume` moves the run on.
  const run = spawn(process.execPath, [bin(), '--root', root, 'run', '--rm', '--break', 'rootfs,exec', 'busybox', 'sh', '-c', 'echo ran; hostname'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  run.stdout.on('data', (d) => (out += d));
  run.stderr.on('data', (d) => (err += d));
  const waitFor = async (s: string) => {
    for (let i = 0; i < 400 && !err.includes(s); i++) await sleep(25);
    t.match(err, s);
  };
  await waitFor('paused before rootfs');
  const id = fs.readdirSync(path.join(root, 'containers'))[0]!;
  const short = id.slice(0, 8);

  const snap = JSON.parse(gb('inspect', '--json', short).stdout) as Snapshot;
  t.equal(snap.id, id);
  t.equal(snap.stage, 'rootfs');
  const changed = Object.fromEntries(snap.namespaces.map((n) => [n.type, n.changed]));
  t.same(changed, { cgroup: true, ipc: true, mnt: true, net: true, pid: true, pid_for_children: true, user: false, uts: true }, 'every namespace made so far is new');
  t.same(snap.interfaces, ['lo']);
  t.ok(snap.cgroup.length > 0, 'the cgroup files written are listed');
  t.same(snap.processes.map((p) => p.comm), ['glassbox-shim'], 'PID 1 (the helper forked it) is in the cgroup; the helper itself has left it');
  t.match(gb('inspect', short).stdout, /namespaces \(host \/ container\):/);

  const before = gb('shell', short, 'sh', '-c', 'hostname; readlink /proc/self/ns/mnt; test -e /etc/os-release && echo host-root || echo image-root');
  t.equal(before.status, 0, before.stderr);
  const [hostname, mnt, rootfs] = before.stdout.trim().split('\n');
  t.not(hostname, id.slice(0, 12), 'before the hostname stage, the hostname is still the host one');
  t.equal(mnt, snap.namespaces.find((n) => n.type === 'mnt')!.container, "the shell is in the container's mount namespace");
  t.equal(rootfs, 'host-root', 'before pivot_root, its root is still the host root');

  t.equal(gb('resume', short).status, 0);
  await waitFor('paused before exec');
  const after = gb('shell', short, 'sh', '-c', 'hostname; cat /proc/1/comm; ls /bin/busybox');
  t.same(after.stdout.trim().split('\n'), [id.slice(0, 12), 'glassbox-shim', '/bin/busybox'], 'after pivot_root: the image root, its hostname, the helper as PID 1');

  t.equal(gb('resume', short).status, 0);
  const code = await new Promise<number | null>((r) => run.on('exit', r));
  t.equal(code, 0);
  t.equal(out, `ran\n${id.slice(0, 12)}\n`);
  t.same(fs.readdirSync(path.join(root, 'containers')), []);
  t.same(fs.readdirSync(path.join(root, 'run')), [], 'the control socket is gone');
});

t.test('inspect, resume and shell of an unknown container: one line each', async (t) => {
  for (const c of ['inspect', 'resume', 'shell']) {
    const r = gb(c, 'deadbeef');
    t.equal(r.status, 1);
    t.equal(r.stderr, `glassbox: ${c} deadbeef: no such container\n`);
  }
});
