// SIGKILL of glassbox itself, at any stage: the helper and the container die
// with it (PDEATHSIG), their mounts with their namespace, and `glassbox gc`
// (or the next run) removes the directory and the cgroups.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { loadImages } from '../src/image/interchange.js';
import { Store } from '../src/image/store.js';
import { fixtureImages, repoRoot } from './lib/fixtures.js';
import { containerCgroups, shimPids } from './lib/leftovers.js';

let root: string;
const bin = () => path.join(repoRoot(), 'dist/src/cli/bin.js');

t.before(async () => {
  root = fs.mkdtempSync('/tmp/glassbox-gc-');
  const store = await Store.open(root);
  await loadImages(store, (await fixtureImages()).layout('busybox'), { name: 'busybox' });
});
t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));



const containers = () => (fs.existsSync(path.join(root, 'containers')) ? fs.readdirSync(path.join(root, 'containers')) : []);

/** Start a run that stops at `stage` (or runs `sleep`), and SIGKILL glassbox there. */
async function killAt(t: Test, stage: string | undefined, before: Set<number>): Promise<void> {
  const args = stage ? ['--break', stage, 'busybox', 'true'] : ['busybox', 'sleep', '60'];
  const child = spawn(process.execPath, [bin(), '--root', root, 'run', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  for (let i = 0; i < 400; i++) {
    if (stage ? err.includes(`paused before ${stage}`) : err.includes('exec')) break;
    await sleep(25);
  }
  if (!stage) await sleep(200);
  t.ok(containers().length === 1, `a container exists at ${stage ?? 'running'}`);
  child.kill('SIGKILL');
  await new Promise((r) => child.on('exit', r));
  // The helper and init die by PDEATHSIG, at once but not synchronously.
  for (let i = 0; i < 200 && shimPids().some((p) => !before.has(p)); i++) await sleep(25);
  t.same(shimPids().filter((p) => !before.has(p)), [], 'the helper and the container died with glassbox');
}

for (const stage of ['cgroup', 'ns-pid', 'rootfs', 'security', undefined]) {
  t.test(`killed ${stage ? `before ${stage}` : 'while the program runs'}: gc removes the directory and the cgroups`, async (t) => {
    const before = new Set(shimPids());
    await killAt(t, stage, before);
    const r = spawnSync(process.execPath, [bin(), '--root', root, 'gc'], { encoding: 'utf8' });
    t.equal(r.status, 0, r.stderr);
    t.match(r.stdout, /^Removed container [a-f0-9]{12}$/m);
    t.same(containers(), [], 'no container directory left');
    t.same(containerCgroups(), [], 'no container cgroup left');
    t.notMatch(fs.readFileSync('/proc/self/mountinfo', 'utf8'), root, 'no mount left');
  });
}

t.test('the next run removes what a killed one left, by itself', async (t) => {
  const before = new Set(shimPids());
  await killAt(t, 'rootfs', before);
  t.equal(containers().length, 1, 'the leftover is there');
  const r = spawnSync(process.execPath, [bin(), '--root', root, 'run', '-q', '--rm', 'busybox', 'true'], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  t.same(containers(), []);
  t.same(containerCgroups(), []);
});

t.test('gc leaves a running container alone', async (t) => {
  const child = spawn(process.execPath, [bin(), '--root', root, 'run', '-q', '--rm', 'busybox', 'sleep', '3'], { stdio: 'ignore' });
  for (let i = 0; i < 200 && containers().length === 0; i++) await sleep(25);
  await sleep(300);
  const r = spawnSync(process.execPath, [bin(), '--root', root, 'gc'], { encoding: 'utf8' });
  t.equal(r.stdout, '', 'nothing removed');
  t.equal(containers().length, 1, 'the running container is still there');
  t.equal(await new Promise((res) => child.on('exit', res)), 0, 'and finishes normally');
  t.same(containers(), []);
});
