// --userns on the real kernel: a user namespace made first, the maps written
// from outside, the other namespaces owned by it, the image's layers seen
// through idmapped mounts (never chowned), what the container writes owned by
// its host range, and nothing left behind, at every stage.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { loadImages } from '../src/image/interchange.js';
import { Store } from '../src/image/store.js';
import { fixtureImages, repoRoot } from './lib/fixtures.js';
import { interruptAtEveryStage } from './lib/interrupt.js';
import { assertNothingLeft as nothingLeft, removeCgroupParent, shimPids } from './lib/leftovers.js';

// overlayfs on idmapped layers came in Linux 5.19; before it, --userns cannot work and says so.
const [major = 0, minor = 0] = os.release().split('.').map(Number);
const tooOld = major < 5 || (major === 5 && minor < 19);
const NEEDS = { skip: tooOld ? `Linux ${os.release()} has no overlayfs on idmapped mounts (5.19+), which --userns needs` : false };

let root: string;
let store: Store;
let shimsBefore = new Set<number>();
const bin = () => path.join(repoRoot(), 'dist/src/cli/bin.js');
const gb = (args: string[], input?: string) => spawnSync(process.execPath, [bin(), '--root', root, ...args], { encoding: 'utf8', input, timeout: 60_000 });
const run = (args: string[]) => gb(['run', '-q', ...args]);

t.before(async () => {
  if (tooOld) return;
  shimsBefore = new Set(shimPids());
  const fx = await fixtureImages();
  root = fs.mkdtempSync('/tmp/glassbox-userns-');
  store = await Store.open(root);
  await loadImages(store, fx.layout('busybox'), { name: 'busybox' });
  await loadImages(store, fx.layout('layered'), { name: 'layered' });
});
t.teardown(() => {
  if (tooOld) return;
  for (const id of gb(['ps', '-aq']).stdout.trim().split('\n').filter(Boolean)) gb(['rm', '-f', id]);
  removeCgroupParent(store.cgroupParent);
  fs.rmSync(root, { recursive: true, force: true });
});

const assertNothingLeft = (t: Test) => nothingLeft(t, root, shimsBefore);

/** Every file of the image as ls -ln shows it, without the kernel's own trees. */
const LISTING = 'find / -xdev | sort | while read f; do case "$f" in /proc|/proc/*|/sys|/sys/*|/dev|/dev/*) ;; *) ls -ldn "$f" | awk \'{print $1, $3, $4, $NF}\';; esac; done';

t.test('the container is root in a user namespace of its own, and host ID 100000 outside it', NEEDS, async (t) => {
  const r = run(['--rm', '--userns', 'busybox', 'sh', '-c', 'id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map; stat -c "%u %g" /bin/busybox /etc/passwd; readlink /proc/self/ns/user; grep CapEff /proc/self/status']);
  t.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => l.trim().replace(/\s+/g, ' '));
  t.same(lines.slice(0, 2), ['0', '0'], 'uid and gid 0 inside');
  t.same(lines.slice(2, 4), ['0 100000 65536', '0 100000 65536'], 'the default maps, as written from outside');
  t.same(lines.slice(4, 6), ['0 0', '0 0'], "the image's files belong to the container's root (idmapped layers)");
  t.not(lines[6], fs.readlinkSync('/proc/self/ns/user'), 'a user namespace other than the host');
  t.equal(lines[7], 'CapEff: 00000000a80425fb', "docker's default capabilities, now over its own namespaces only");
  assertNothingLeft(t);
});

t.test('what the container writes is owned by its host range; the shared layers are untouched', NEEDS, async (t) => {
  const layersBefore = spawnSync('sh', ['-c', `find ${root}/layers -printf '%U %G %m %p\\n' | sort | md5sum`], { encoding: 'utf8' }).stdout;
  const r = run(['--userns', '--name', 'writer', 'busybox', 'sh', '-c', 'echo hi > /root/new; chown 5:6 /root/new; mkdir /data; echo ok > /etc/hostname.copy']);
  t.equal(r.status, 0, r.stderr);
  const [id] = fs.readdirSync(path.join(root, 'containers'));
  const upper = path.join(root, 'containers', id!, 'upper');
  const st = (p: string) => fs.lstatSync(path.join(upper, p));
  t.same([st('.').uid, st('.').gid], [100000, 100000], "upper/ is the container root's");
  t.same([st('root/new').uid, st('root/new').gid], [100005, 100006], 'uid 5 inside is 100005 outside');
  t.same([st('data').uid, st('etc/hostname.copy').uid], [100000, 100000], 'new files: host uid 100000');
  const layersAfter = spawnSync('sh', ['-c', `find ${root}/layers -printf '%U %G %m %p\\n' | sort | md5sum`], { encoding: 'utf8' }).stdout;
  t.equal(layersAfter, layersBefore, 'no layer file changed owner or mode');
  t.equal(gb(['rm', 'writer']).status, 0);
  assertNothingLeft(t);
});

t.test('whiteouts, opaque directories, links and modes read the same through idmapped layers', NEEDS, async (t) => {
  const plain = run(['--rm', 'layered', 'sh', '-c', LISTING]);
  const mapped = run(['--rm', '--userns', 'layered', 'sh', '-c', LISTING]);
  t.equal(plain.status, 0, plain.stderr);
  t.equal(mapped.status, 0, mapped.stderr);
  t.equal(mapped.stderr, '', 'nothing on stderr');
  t.ok(plain.stdout.split('\n').length > 100, 'a whole listing');
  t.equal(mapped.stdout, plain.stdout, 'the same tree, owners included');
  assertNothingLeft(t);
});

t.test('--uidmap and --gidmap set the ranges; the trace shows the idmapped layers', NEEDS, async (t) => {
  const rec = path.join(root, 'u.jsonl');
  const r = run(['--rm', '--uidmap', '0:200000:1000', '--gidmap', '0:300000:2000', '--trace', 'lesson', '--record', rec, 'busybox', 'cat', '/proc/self/uid_map', '/proc/self/gid_map']);
  t.equal(r.status, 0, r.stderr);
  t.same(r.stdout.trim().split('\n').map((l) => l.trim().replace(/\s+/g, ' ')), ['0 200000 1000', '0 300000 2000']);
  const recorded = fs
    .readFileSync(rec, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { kind: string; stage?: string; name?: string; args?: string[]; ret?: number; detail?: { what: string; file?: string; text?: string } });
  const calls = recorded.filter((e) => e.kind === 'syscall');
  const maps = recorded.filter((e) => e.kind === 'host' && e.detail?.what === 'idmap').map((e) => [e.detail!.file, e.detail!.text]);
  t.same(maps, [['uid_map', '0 200000 1000\n'], ['gid_map', '0 300000 2000\n']], "glassbox's writes of the maps are host events in the recording");
  const line = (name: string) => calls.find((c) => c.name === name);
  t.equal(line('unshare')?.stage, 'ns-user', 'the first unshare is the user namespace');
  t.same(line('unshare')?.args, ['CLONE_NEWUSER']);
  t.match(line('mount_setattr')?.args?.[3], /^\{attr_set=MOUNT_ATTR_IDMAP, attr_clr=0, propagation=0, userns_fd=\d+\}$/);
  t.equal(line('mount_setattr')?.stage, 'rootfs');
  t.match(line('open_tree')?.args?.[2], 'OPEN_TREE_CLONE');
  t.match(line('move_mount')?.args?.[3], /\/lower\/0"$/);
  fs.rmSync(rec);
  assertNothingLeft(t);
});

t.test('exec and shell join the user namespace first', NEEDS, async (t) => {
  const id = run(['-d', '--rm', '--userns', 'busybox', 'sleep', '30']).stdout.trim();
  t.match(id, /^[a-f0-9]{64}$/);
  const e = gb(['exec', id, 'sh', '-c', 'id -u; cat /proc/self/uid_map; readlink /proc/self/ns/user; readlink /proc/1/ns/user']);
  t.equal(e.status, 0, e.stderr);
  const [uid, map, mine, init] = e.stdout.trim().split('\n').map((l) => l.trim().replace(/\s+/g, ' '));
  t.equal(uid, '0');
  t.equal(map, '0 100000 65536');
  t.equal(mine, init, "in PID 1's user namespace");
  const inspect = gb(['inspect', '--json', id]);
  t.equal(inspect.status, 0, inspect.stderr);
  const snap = JSON.parse(inspect.stdout) as { idMaps?: { uid: string[]; gid: string[] }; namespaces: { type: string; changed: boolean }[] };
  t.same(snap.idMaps, { uid: ['0 100000 65536'], gid: ['0 100000 65536'] }, 'inspect shows the maps');
  t.ok(snap.namespaces.find((n) => n.type === 'user')?.changed, 'and a user namespace of its own');
  const s = gb(['shell', id, 'cat', '/proc/self/uid_map']);
  t.equal(s.status, 0, s.stderr);
  t.equal(s.stdout.trim().replace(/\s+/g, ' '), '0 100000 65536');
  t.equal(gb(['rm', '-f', id]).status, 0);
  for (let i = 0; i < 100 && fs.readdirSync(path.join(root, 'containers')).length; i++) await sleep(50);
  assertNothingLeft(t);
});

t.test('bad maps and --network host are one line each, and nothing is made', NEEDS, async (t) => {
  const cases: [string[], RegExp][] = [
    [['--uidmap', '1:100000:10'], /^glassbox: run: --uidmap: no range maps ID 0: the container needs a root to build its filesystem\n$/],
    [['--uidmap', 'zero'], /^glassbox: run: --uidmap: "zero" is not CONTAINER_ID:HOST_ID:COUNT \(like 0:100000:65536\)\n$/],
    [['--gidmap', '0:100000:0'], /^glassbox: run: --gidmap: "0:100000:0" maps no IDs/],
    [['--uidmap', '0:100000:100', '--uidmap', '50:300000:10'], /^glassbox: run: --uidmap: container IDs 0:100 and 50:10 overlap\n$/],
    [['--userns', '--network', 'host'], /^glassbox: run: --userns cannot be used with --network host/],
  ];
  for (const [flags, want] of cases) {
    const r = run(['--rm', ...flags, 'busybox', 'true']);
    t.equal(r.status, 1, flags.join(' '));
    t.match(r.stderr, want, r.stderr);
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  }
  assertNothingLeft(t);
});

t.test('Ctrl-C at a pause of a --userns run undoes every completed stage, at every stage', NEEDS, async (t) => {
  await interruptAtEveryStage(t, { bin: bin(), root, flags: ['--userns'], nothingLeft: assertNothingLeft });
});
