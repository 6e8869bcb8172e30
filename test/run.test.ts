// glassbox run on the real kernel: a busybox image (built from Debian's
// busybox-static) from the store, its namespaces, its root, its exit code,
// and nothing left behind.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { loadImages } from '../src/image/interchange.js';
import { Store } from '../src/image/store.js';
import { stageIds } from '../src/runtime/stages/index.js';
import { fixtureImages, repoRoot } from './lib/fixtures.js';
import { interruptAtEveryStage } from './lib/interrupt.js';
import { assertNothingLeft as nothingLeft, shimPids } from './lib/leftovers.js';
import { startRegistry } from './lib/registry.js';

let root: string;
let store: Store;
/** What other runs on this machine left (a zombie under a PID 1 that does not reap) is not ours. */
let shimsBefore = new Set<number>();
const bin = () => path.join(repoRoot(), 'dist/src/cli/bin.js');

t.before(async () => {
  shimsBefore = new Set(shimPids());
  const fx = await fixtureImages();
  root = fs.mkdtempSync('/tmp/glassbox-run-');
  store = await Store.open(root);
  await loadImages(store, fx.layout('busybox'), { name: 'busybox' });
});
t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));

function run(args: string[], input?: string) {
  return spawnSync(process.execPath, [bin(), '--root', root, 'run', '-q', '--rm', ...args], { encoding: 'utf8', input, timeout: 60_000 });
}

/** Nothing of any container may outlive its run: no dir, no mount, no helper, no cgroup. */
const assertNothingLeft = (t: Test) => nothingLeft(t, root, shimsBefore);




function hostNs(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of ['mnt', 'uts', 'ipc', 'net', 'pid', 'user', 'cgroup']) out[n] = fs.readlinkSync(`/proc/self/ns/${n}`);
  return out;
}

t.test('the command runs as PID 1, with the container hostname, and its exit code is glassbox\'s', async (t) => {
  const r = run(['busybox', 'sh', '-c', 'echo pid=$$; hostname; exit 7']);
  t.equal(r.status, 7, r.stderr);
  const [pid, hostname] = r.stdout.trim().split('\n');
  t.equal(pid, 'pid=1');
  t.match(hostname, /^[a-f0-9]{12}$/, 'the hostname is the short container id');
  const named = run(['--hostname', 'classroom', 'busybox', 'hostname']);
  t.equal(named.stdout.trim(), 'classroom');
  const ps = run(['busybox', 'ps', '-o', 'pid,comm']);
  const rows = ps.stdout.trim().split('\n').slice(1).map((l) => l.trim().split(/\s+/));
  t.same(rows, [['1', 'ps']], 'ps sees only itself, as PID 1');
  assertNothingLeft(t);
});

t.test('the root is the overlay of the image, and no host mount is visible', async (t) => {
  const r = run(['busybox', 'cat', '/proc/self/mountinfo']);
  t.equal(r.status, 0, r.stderr);
  const mounts = r.stdout.trim().split('\n').map((l) => {
    const f = l.split(' ');
    const dash = f.indexOf('-');
    return { point: f[4]!, type: f[dash + 1]!, super: f[dash + 3] ?? '' };
  });
  t.same(mounts[0]!.point, '/');
  t.equal(mounts[0]!.type, 'overlay', 'the root is overlayfs');
  t.match(mounts[0]!.super, `lowerdir=${path.join(root, 'layers/sha256')}`);
  // Below /proc and /sys: the masked and read-only paths, and /sys/fs/cgroup.
  t.same(
    mounts.map((m) => m.point).filter((p) => !/^\/(proc|sys)\/./.test(p)).sort(),
    ['/', '/dev', '/dev/mqueue', '/dev/pts', '/dev/shm', '/proc', '/sys'].sort(),
    'exactly the mounts of the default spec, none of the host',
  );
  t.ok(mounts.some((m) => m.point === '/sys/fs/cgroup' || m.point.startsWith('/sys/fs/cgroup/')), 'and /sys/fs/cgroup');
  const devs = run(['busybox', 'ls', '/dev']);
  for (const d of ['null', 'zero', 'full', 'random', 'urandom', 'tty', 'ptmx', 'pts', 'shm', 'mqueue', 'fd']) t.match(devs.stdout, new RegExp(`^${d}$`, 'm'), `/dev/${d}`);
  const ro = run(['busybox', 'sh', '-c', 'touch /sys/x 2>&1; echo rc=$?']);
  t.match(ro.stdout, /Read-only file system/, '/sys is read-only');
  assertNothingLeft(t);
});

t.test('each namespace created has an inode that differs from the host', async (t) => {
  const host = hostNs();
  const r = run(['busybox', 'sh', '-c', 'for n in mnt uts ipc net pid user cgroup; do echo $n $(readlink /proc/1/ns/$n); done']);
  t.equal(r.status, 0, r.stderr);
  const inside = Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split(' ') as [string, string]));
  for (const n of ['mnt', 'uts', 'ipc', 'net', 'pid', 'cgroup']) t.not(inside[n], host[n], `${n} namespace is new`);
  t.equal(inside.user, host.user, "the user namespace is the host's (not created without --userns)");
  const lo = run(['busybox', 'cat', '/sys/class/net/lo/operstate']);
  t.match(lo.stdout, /unknown|up/i, 'loopback is up in the new network namespace');
  const ifaces = run(['busybox', 'ls', '/sys/class/net']);
  t.equal(ifaces.stdout.trim(), 'lo', 'only loopback');
});

t.test('writes go to the container, never to the shared layers, and containers do not see each other', async (t) => {
  const layer = store.layerDiff(store.config(store.manifest(store.images()[0]!.digest)).rootfs.diff_ids[0]!);
  const before = fs.readdirSync(path.join(layer, 'bin')).length;
  const a = spawn(process.execPath, [bin(), '--root', root, 'run', '-q', '--rm', 'busybox', 'sh', '-c', 'echo A > /marker; rm /bin/ls; sleep 2; cat /marker'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let aOut = '';
  a.stdout.on('data', (d) => (aOut += d));
  await sleep(800);
  const b = run(['busybox', 'sh', '-c', 'cat /marker 2>&1; ls /bin/ls']);
  t.match(b.stdout, /No such file/, 'the other container does not see /marker');
  t.match(b.stdout, /\/bin\/ls/, 'nor the deletion of /bin/ls');
  const aCode = await new Promise<number | null>((r) => a.on('exit', r));
  t.equal(aCode, 0);
  t.equal(aOut.trim(), 'A');
  t.equal(fs.readdirSync(path.join(layer, 'bin')).length, before, 'the layer is untouched');
  t.ok(fs.existsSync(path.join(layer, 'bin/ls')), 'bin/ls is still in the layer');
  t.notOk(fs.existsSync(path.join(layer, 'marker')));
  assertNothingLeft(t);
});

t.test('bad input: one line, docker\'s exit codes, nothing left behind', async (t) => {
  const nf = run(['busybox', 'nosuchcmd']);
  t.equal(nf.status, 127);
  t.equal(nf.stderr, 'glassbox: exec: "nosuchcmd": executable file not found in $PATH\n');
  const noImage = run(['127.0.0.1:1/nosuch:1', 'true']);
  t.equal(noImage.status, 1);
  t.equal(noImage.stderr.trim().split('\n').length, 1);
  t.match(noImage.stderr, /^glassbox: pull 127\.0\.0\.1:1\/nosuch/);
  const badStage = run(['--break', 'nope', 'busybox', 'true']);
  t.equal(badStage.status, 1);
  t.match(badStage.stderr, /^glassbox: run: unknown stage "nope"/);
  assertNothingLeft(t);
});

t.test('--step pauses before every stage and goes on with each line of input', async (t) => {
  const ids = stageIds();
  const r = spawnSync(process.execPath, [bin(), '--root', root, 'run', '--rm', '--step', 'busybox', 'echo', 'stepped'], {
    encoding: 'utf8',
    input: '\n'.repeat(ids.length),
    timeout: 60_000,
  });
  t.equal(r.status, 0, r.stderr);
  t.equal(r.stdout, 'stepped\n');
  const paused = [...r.stderr.matchAll(/paused before (\S+):/g)].map((m) => m[1]);
  t.same(paused, ids, 'one pause per stage, in order');
  const c = spawnSync(process.execPath, [bin(), '--root', root, 'run', '--rm', '--break', 'rootfs,exec', 'busybox', 'true'], { encoding: 'utf8', input: 'c\n' });
  t.equal(c.status, 0);
  t.same([...c.stderr.matchAll(/paused before (\S+):/g)].map((m) => m[1]), ['rootfs'], '"c" runs to the end');
  assertNothingLeft(t);
});

t.test('Ctrl-C at a pause undoes every completed stage, at every stage', async (t) => {
  await interruptAtEveryStage(t, { bin: bin(), root, nothingLeft: assertNothingLeft });
});

t.test('a reader that goes away (run ... 2>&1 | head) does not end the run half done: nothing is left', async (t) => {
  const child = spawn(process.execPath, [bin(), '--root', root, 'run', '--plain', '--rm', 'busybox', 'sh', '-c', 'sleep 0.5; exit 0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  // Read the first lines, then close both pipes, as head does.
  await new Promise<void>((resolve) => child.stderr.once('data', () => resolve()));
  child.stdout.destroy();
  child.stderr.destroy();
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  t.equal(code, 0, 'the run ended as the program did: 0, not a crash on EPIPE');
  assertNothingLeft(t);
});

t.test('cgroup limits: visible inside, enforced, and reported', async (t) => {
  const seen = run(['--memory', '64m', '--cpus', '0.5', '--pids-limit', '20', 'busybox', 'sh', '-c', 'cat /proc/self/cgroup; ls /sys/fs/cgroup']);
  t.equal(seen.status, 0, seen.stderr);
  t.match(seen.stdout, /^0::\/$/m, 'in its cgroup namespace, its own cgroup is the root');
  const v2 = fs.existsSync('/sys/fs/cgroup/cgroup.controllers');
  const files = v2
    ? ['memory.max', 'pids.max', 'cpu.max']
    : ['memory/memory.limit_in_bytes', 'pids/pids.max', 'cpu/cpu.cfs_quota_us'];
  const values = run(['--memory', '64m', '--cpus', '0.5', '--pids-limit', '20', 'busybox', 'cat', ...files.map((f) => `/sys/fs/cgroup/${f}`)]);
  t.same(values.stdout.trim().split('\n'), v2 ? ['67108864', '20', '50000 100000'] : ['67108864', '20', '50000'], 'the limits written are the ones it reads');
  const oom = run(['--memory', '32m', 'busybox', 'sh', '-c', 'x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo survived']);
  t.equal(oom.status, 137, 'killed by SIGKILL: 128 + 9');
  t.notMatch(oom.stdout, /survived/);
  t.match(oom.stderr, /OOM killer ended the program/);
  const pids = run(['--pids-limit', '6', 'busybox', 'sh', '-c', 'for i in 1 2 3 4 5 6 7 8 9 10; do sleep 1 & done; wait']);
  t.match(pids.stderr, /can't fork|Resource temporarily unavailable/, 'a fork loop stops at the limit');
  const bad = run(['--memory', '12q', 'busybox', 'true']);
  t.equal(bad.status, 1);
  t.match(bad.stderr, /^glassbox: option '-m, --memory <bytes>' argument '12q' is invalid/);
  t.equal(bad.stderr.trim().split('\n').length, 1);
  assertNothingLeft(t);
});

t.test("the program runs with docker's default capabilities, masked and read-only /proc paths, and the user asked for", async (t) => {
  const r = run(['busybox', 'sh', '-c', 'grep -E "^Cap(Eff|Prm|Bnd|Inh|Amb)|NoNewPrivs" /proc/self/status; id']);
  t.equal(r.status, 0, r.stderr);
  const status = Object.fromEntries([...r.stdout.matchAll(/^(\w+):\s+(\S+)$/gm)].map((m) => [m[1], m[2]]));
  t.equal(status.CapEff, '00000000a80425fb', "effective: docker's default set");
  t.equal(status.CapBnd, '00000000a80425fb', 'bounding: the rest dropped for good');
  t.equal(status.CapInh, '0000000000000000');
  t.equal(status.CapAmb, '0000000000000000');
  t.equal(status.NoNewPrivs, '0', "no_new_privs off, docker's default");
  t.match(r.stdout, /^uid=0\(root\) gid=0\(root\)/m);
  const proc = run(['busybox', 'sh', '-c', 'wc -c < /proc/timer_list; echo x > /proc/sys/kernel/hostname; ls /sys/firmware | wc -l']);
  t.same(proc.stdout.trim().split('\n'), ['0', '0'], '/proc/timer_list reads as /dev/null, /sys/firmware is empty');
  t.match(proc.stderr, /proc\/sys\/kernel\/hostname: Read-only file system/);
  const nobody = run(['-u', 'nobody', 'busybox', 'sh', '-c', 'id; grep CapEff /proc/self/status; echo HOME=$HOME']);
  t.match(nobody.stdout, /^uid=65534\(nobody\) gid=65534\(nobody\)/m, '-u by name, from the image /etc/passwd');
  t.match(nobody.stdout, /CapEff:\s+0000000000000000/, 'a user other than root has no effective capabilities');
  const numeric = run(['-u', '1234:5678', '--security-opt', 'no-new-privileges', 'busybox', 'sh', '-c', 'id; grep NoNewPrivs /proc/self/status']);
  t.match(numeric.stdout, /uid=1234 gid=5678/);
  t.match(numeric.stdout, /NoNewPrivs:\s+1/);
  const missing = run(['-u', 'nosuchuser', 'busybox', 'id']);
  t.equal(missing.status, 1);
  t.equal(missing.stderr, 'glassbox: security: unable to find user nosuchuser: no matching entries in passwd file\n');
  assertNothingLeft(t);
});

t.test("docker's default seccomp filter refuses namespaces, mounts and module loading; seccomp=unconfined lifts it", async (t) => {
  const script = 'grep Seccomp: /proc/self/status; unshare -u true && echo unshare-ok; mount -t tmpfs none /mnt && echo mount-ok; true';
  const r = run(['busybox', 'sh', '-c', script]);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /^Seccomp:\s+2$/m, 'a filter is installed (mode 2)');
  t.notMatch(r.stdout, /unshare-ok|mount-ok/);
  t.match(r.stderr, /unshare: unshare\(0x4000000\): Operation not permitted/, 'unshare gets EPERM from the filter');
  t.match(r.stderr, /mount: permission denied/, "mount gets EPERM from the filter");
  const free = run(['--security-opt', 'seccomp=unconfined', 'busybox', 'sh', '-c', script]);
  t.match(free.stdout, /^Seccomp:\s+0$/m, 'unconfined: no filter');
  // Still no CAP_SYS_ADMIN: the capability check refuses it, after the filter no longer does.
  t.match(free.stderr, /unshare: unshare\(0x4000000\): Operation not permitted/);
  assertNothingLeft(t);
});

t.test('--ulimit sets the soft and hard limits the program starts with, as docker', async (t) => {
  const r = run(['--ulimit', 'nofile=100:200', '--ulimit', 'nproc=50', 'busybox', 'sh', '-c', 'ulimit -n; ulimit -Hn; ulimit -u']);
  t.equal(r.status, 0, r.stderr);
  t.same(r.stdout.trim().split('\n'), ['100', '200', '50']);
  const bad = run(['--ulimit', 'nofile=300:200', 'busybox', 'true']);
  t.equal(bad.status, 1);
  t.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
  t.match(bad.stderr, /^glassbox: option '--ulimit <name=soft\[:hard\]>' argument 'nofile=300:200' is invalid. "nofile=300:200": the soft limit is above the hard one/);
  const unknown = run(['--ulimit', 'files=1', 'busybox', 'true']);
  t.equal(unknown.status, 1);
  t.match(unknown.stderr, /is not a ulimit: use NAME=SOFT\[:HARD\]/);
  assertNothingLeft(t);
});

t.test('with no image, run builds and runs the built-in demo, no registry needed', async (t) => {
  const r = spawnSync(process.execPath, [bin(), '--root', root, 'run', '-q', '--rm'], { encoding: 'utf8', timeout: 60_000 });
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /^glassbox-demo: what a process sees from inside its container/);
  t.match(r.stdout, /pid\s+1\s/, 'the demo is PID 1');
  t.match(r.stdout, /CapEff\s+00000000a80425fb/);
  t.match(r.stdout, /root\s+overlay on \/ from overlay/);
  t.match(r.stdout, /lo\s+UP/, 'loopback is up');
  const ns = spawnSync(process.execPath, [bin(), '--root', root, 'run', '-q', '--rm', 'glassbox/demo', 'ns'], { encoding: 'utf8' });
  t.match(ns.stdout, /^\[ns\]/m, 'the demo takes a section as its command');
  t.notMatch(ns.stdout, /^\[ps\]/m);
  assertNothingLeft(t);
});

t.test('--network host keeps the host network; the default has only loopback', async (t) => {
  const hostNet = fs.readlinkSync('/proc/self/ns/net');
  const host = run(['--network', 'host', 'busybox', 'readlink', '/proc/self/ns/net']);
  t.equal(host.stdout.trim(), hostNet);
  const none = run(['busybox', 'readlink', '/proc/self/ns/net']);
  t.not(none.stdout.trim(), hostNet);
  const bad = run(['--network', 'bridge', 'busybox', 'true']);
  t.equal(bad.status, 1);
  t.match(bad.stderr, /^glassbox: option '--network <mode>' argument 'bridge' is invalid/);
  assertNothingLeft(t);
});

t.test("SIGTERM to glassbox reaches the program, and the program's answer is the exit code", async (t) => {
  const child = spawn(process.execPath, [bin(), '--root', root, 'run', '-q', '--rm', 'busybox', 'sh', '-c', 'trap "echo got TERM; exit 3" TERM; echo ready; sleep 30 & wait'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  for (let i = 0; i < 200 && !out.includes('ready'); i++) await sleep(25);
  child.kill('SIGTERM');
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  t.equal(out, 'ready\ngot TERM\n');
  t.equal(code, 3);
  assertNothingLeft(t);
});

t.test('a missing image is pulled first, with its progress, then run', async (t) => {
  const reg = await startRegistry();
  t.teardown(() => reg.stop());
  await reg.push((await fixtureImages()).layout('busybox'), 'pulled/busybox:latest');
  const r = spawnSync(process.execPath, [bin(), '--root', root, 'run', '--rm', `${reg.host}/pulled/busybox`, 'echo', 'ran'], { encoding: 'utf8', timeout: 60_000 });
  t.equal(r.status, 0, r.stderr);
  t.equal(r.stdout, 'ran\n');
  t.match(r.stderr, /Pulling .*pulled\/busybox:latest/);
  t.match(r.stderr, /: (Pull complete|Already exists)$/m, 'per-layer lines (the busybox layer is in the store already)');
  assertNothingLeft(t);
});

t.test('only the container counts against its cgroup: the helper leaves it; no inherited descriptor reaches the program', async (t) => {
  // sh and two sleeps: three processes, the limit exactly (docker gives the same).
  const r = run(['--pids-limit', '3', 'busybox', 'sh', '-c', 'sleep 0.3 & sleep 0.3 & wait; echo ok']);
  t.equal(r.stdout, 'ok\n', r.stderr);
  const fds = spawnSync('sh', ['-c', `exec 7</dev/null; exec ${process.execPath} ${bin()} --root ${root} run -q --rm busybox ls /proc/self/fd`], { encoding: 'utf8' });
  t.same(fds.stdout.trim().split('\n').sort(), ['0', '1', '2', '3'].sort(), "only stdio (and ls's own directory fd): fd 7 stayed outside");
  assertNothingLeft(t);
});

t.test('a device the container makes is not a device it may open: only runc\'s default devices are allowed', async (t) => {
  const r = run(['busybox', 'sh', '-c', 'mknod /tmp/disk b 7 0 && echo made; head -c 1 /tmp/disk; echo x > /dev/null && echo null-ok']);
  t.match(r.stdout, /^made$/m, 'mknod works (CAP_MKNOD, as docker)');
  t.match(r.stderr, /\/tmp\/disk: Operation not permitted/, 'but opening it is refused by the devices cgroup');
  t.match(r.stdout, /^null-ok$/m);
  assertNothingLeft(t);
});

t.test("a file that is there but cannot be run: docker's line and exit code 126", async (t) => {
  const r = run(['busybox', '/etc/passwd']);
  t.equal(r.status, 126);
  t.equal(r.stderr, 'glassbox: exec: "/etc/passwd": permission denied\n');
  assertNothingLeft(t);
});
