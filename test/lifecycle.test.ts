// run -d, ps, logs, stop, kill, rm, --name, and exited containers kept until rm.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { loadImages } from '../src/image/interchange.js';
import { Store } from '../src/image/store.js';
import { fixtureImages, repoRoot } from './lib/fixtures.js';

let root: string;
const gb = (...args: string[]) => spawnSync(process.execPath, [path.join(repoRoot(), 'dist/src/cli/bin.js'), '--root', root, ...args], { encoding: 'utf8', timeout: 60_000 });

t.before(async () => {
  root = fs.mkdtempSync('/tmp/glassbox-life-');
  await loadImages(await Store.open(root), (await fixtureImages()).layout('busybox'), { name: 'busybox' });
});
t.teardown(() => {
  for (const id of gb('ps', '-aq').stdout.trim().split('\n').filter(Boolean)) gb('rm', '-f', id);
  fs.rmSync(root, { recursive: true, force: true });
});

const psRows = (...flags: string[]) =>
  gb('ps', ...flags)
    .stdout.trim()
    .split('\n')
    .slice(1)
    .filter(Boolean);

t.test('run -d prints the id, ps lists it, logs shows its output, stop ends it, rm removes it', async (t) => {
  const r = gb('run', '-d', '--name', 'ticker', 'busybox', 'sh', '-c', 'i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done');
  t.equal(r.status, 0, r.stderr);
  const id = r.stdout.trim();
  t.match(id, /^[a-f0-9]{64}$/);
  const rows = psRows();
  t.equal(rows.length, 1);
  t.match(rows[0], new RegExp(`^${id.slice(0, 12)}\\s+busybox:latest\\s+.*Up .*ticker$`));
  await sleep(500);
  t.match(gb('logs', 'ticker').stdout, /^tick 0\ntick 1\n/, 'logs by name');
  const conflict = gb('run', '--name', 'ticker', 'busybox', 'true');
  t.equal(conflict.status, 1);
  t.match(conflict.stderr, /glassbox: create: the name "ticker" is already in use by container [a-f0-9]{12}/);
  const busy = gb('rm', 'ticker');
  t.equal(busy.status, 1);
  t.match(busy.stderr, /^glassbox: rm ticker: it is running: stop it first, or use -f$/m);
  const stop = gb('stop', '-t', '1', id.slice(0, 6));
  t.equal(stop.status, 0, stop.stderr);
  t.equal(psRows().length, 0, 'not running any more');
  const all = psRows('-a');
  t.match(all[0], /Exited \((137|143)\)/, 'kept, exited: SIGTERM ignored by PID 1, then SIGKILL');
  t.equal(gb('rm', 'ticker').status, 0);
  t.same(psRows('-a'), []);
  t.same(fs.readdirSync(path.join(root, 'containers')), []);
});

t.test('an exited container is kept with its exit code, unless --rm', async (t) => {
  t.equal(gb('run', '-q', 'busybox', 'sh', '-c', 'exit 3').status, 3);
  const rows = psRows('-a');
  t.equal(rows.length, 1);
  t.match(rows[0], /Exited \(3\)/);
  t.equal(gb('run', '-q', '--rm', 'busybox', 'true').status, 0);
  t.equal(psRows('-a').length, 1, '--rm leaves nothing');
  t.equal(gb('rm', gb('ps', '-aq').stdout.trim()).status, 0);
});

t.test('kill sends a signal; rm -f kills and removes; bad ids and signals are one line', async (t) => {
  const id = gb('run', '-d', 'busybox', 'sleep', '30').stdout.trim();
  const k = gb('kill', '-s', 'KILL', id.slice(0, 8));
  t.equal(k.status, 0, k.stderr);
  for (let i = 0; i < 100 && psRows().length; i++) await sleep(50);
  t.match(psRows('-a')[0], /Exited \(137\)/);
  gb('rm', id);
  const id2 = gb('run', '-d', 'busybox', 'sleep', '30').stdout.trim();
  t.equal(gb('rm', '-f', id2).status, 0);
  t.same(psRows('-a'), []);
  t.match(gb('kill', 'nosuch').stderr, /^glassbox: kill nosuch: no such container$/m);
  const id3 = gb('run', '-d', 'busybox', 'sleep', '30').stdout.trim();
  t.match(gb('kill', '-s', 'NOPE', id3).stderr, /^glassbox: kill: unknown signal "NOPE"$/m);
  gb('rm', '-f', id3);
  const fail = gb('run', '-d', 'busybox', 'nosuchcmd');
  t.equal(fail.status, 127, 'a background run that fails before its program runs fails here, with its code');
  t.equal(fail.stderr, 'glassbox: exec: "nosuchcmd": executable file not found in $PATH\n');
  t.same(psRows('-a'), []);
});

t.test('logs -f follows until the container exits', async (t) => {
  const id = gb('run', '-d', 'busybox', 'sh', '-c', 'for i in 1 2 3; do echo line $i; sleep 0.2; done').stdout.trim();
  const r = gb('logs', '-f', id);
  t.equal(r.stdout, 'line 1\nline 2\nline 3\n');
  gb('rm', id);
});

t.test("exec runs another program in the running container's namespaces, cgroup and capabilities", async (t) => {
  const id = gb('run', '-d', '--rm', 'busybox', 'sleep', '30').stdout.trim();
  const r = gb('exec', id.slice(0, 8), 'sh', '-c', 'ps -o pid,comm; hostname; grep CapEff /proc/self/status; readlink /proc/1/ns/pid; readlink /proc/self/ns/pid');
  t.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  t.match(lines[1], /^\s*1 sleep$/, "PID 1 is the container's program");
  t.ok(lines.includes(id.slice(0, 12)), "the container's hostname");
  t.ok(lines.includes('CapEff:\t00000000a80425fb'), "docker's default capabilities");
  const [ns1, nsSelf] = lines.slice(-2);
  t.equal(ns1, nsSelf, 'the same PID namespace as PID 1');
  t.equal(gb('exec', id, 'sh', '-c', 'exit 4').status, 4, 'its exit code');
  const nf = gb('exec', id, 'nosuch');
  t.equal(nf.status, 127);
  t.equal(nf.stderr, 'glassbox: exec: "nosuch": executable file not found in $PATH\n');
  const i = spawnSync(process.execPath, [path.join(repoRoot(), 'dist/src/cli/bin.js'), '--root', root, 'exec', '-i', id, 'cat'], { input: 'piped\n', encoding: 'utf8' });
  t.equal(i.stdout, 'piped\n');
  t.equal(gb('rm', '-f', id).status, 0);
  t.match(gb('exec', id, 'true').stderr, /no such container/);
});

t.test('inspect of an exited container tells its state and where its config is', async (t) => {
  t.equal(gb('run', '-q', '--name', 'finished', '-u', 'nobody', 'busybox', 'sh', '-c', 'exit 2').status, 2);
  const r = gb('inspect', 'finished');
  t.match(r.stdout, /^container [a-f0-9]{12} \(finished\): exited, exit code 2$/m);
  const j = JSON.parse(gb('inspect', '--json', 'finished').stdout) as { state: { exitCode: number }; config: { process: { args: string[] } } };
  t.equal(j.state.exitCode, 2);
  t.same(j.config.process.args, ['sh', '-c', 'exit 2']);
  t.same((j.config.process as unknown as { user: unknown }).user, { uid: 65534, gid: 65534, additionalGids: [] }, 'the config names the user it ran as');
  gb('rm', 'finished');
});
