// Pull from a real registry (Debian's docker-registry) into a real store, and
// check what lands on disk against what the OCI rules and umoci say.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import type { GlassboxEvent } from '../src/events/schema.js';
import { exportImage, listImages, prune, removeImages } from '../src/image/images.js';
import { pull } from '../src/image/pull.js';
import { RegistryClient } from '../src/image/registry.js';
import { Store } from '../src/image/store.js';
import { addon } from '../src/native/addon.js';
import { fixtureImages, type FixtureImages } from './lib/fixtures.js';
import { startRegistry, type Registry } from './lib/registry.js';

/** The CLI compiled with this test, wherever that is (dist/, or a private out dir). */
const CLI_BIN = fileURLToPath(new URL('../src/cli/bin.js', import.meta.url));

let fx: FixtureImages;
let reg: Registry;

t.before(async () => {
  fx = await fixtureImages();
  reg = await startRegistry();
  await reg.push(fx.layout('busybox'), 'library/busybox:latest');
  await reg.push(fx.layout('layered'), 'test/layered:latest');
  await reg.push(fx.layout('busybox'), 'test/busybox-v2s2:latest', { format: 'v2s2' });
  await reg.push(fx.layout('big'), 'test/big:latest');
});
t.teardown(async () => reg?.stop());

function tempStore(t: Test): Promise<Store> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'glassbox-store-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return Store.open(dir);
}


function sha256File(p: string): string {
  return createHash('sha256').update(fs.readFileSync(p)).digest('hex');
}

/** Every blob's content matches its name; every layer dir is whole. */
function assertStoreWhole(t: Test, store: Store): void {
  for (const hex of fs.readdirSync(path.join(store.root, 'blobs/sha256'))) {
    t.equal(sha256File(path.join(store.root, 'blobs/sha256', hex)), hex, `blob ${hex.slice(0, 12)} matches its digest`);
  }
  for (const hex of fs.readdirSync(path.join(store.root, 'layers/sha256'))) {
    t.ok(fs.existsSync(path.join(store.root, 'layers/sha256', hex, 'layer.json')), `layer ${hex.slice(0, 12)} is whole`);
  }
  t.same(fs.readdirSync(path.join(store.root, 'tmp')), [], 'nothing left in tmp/');
}

/** The layer dirs of an image, lowest first. */
function layerDirs(store: Store, name: string): string[] {
  const rec = store.images().find((r) => r.name === name)!;
  const cfg = store.config(store.manifest(rec.digest));
  return cfg.rootfs.diff_ids.map((d) => store.layerDiff(d));
}

t.test('pulling busybox stores verified blobs, one unpacked layer and a name', async (t) => {
  const store = await tempStore(t);
  const events: GlassboxEvent[] = [];
  const r = await pull(store, `${reg.host}/library/busybox`, { events: (e) => events.push(e) });
  t.equal(r.image.name, `${reg.host}/library/busybox:latest`);
  t.equal(r.layers.length, 1);
  t.ok(r.layers[0]!.fetched);
  assertStoreWhole(t, store);
  const [diff] = layerDirs(store, r.image.name);
  const bb = fs.statSync(path.join(diff!, 'bin/busybox'));
  t.ok(bb.isFile() && (bb.mode & 0o777) === 0o755, 'bin/busybox is an executable file');
  t.equal(fs.readlinkSync(path.join(diff!, 'bin/sh')), 'busybox', 'applets are symlinks');
  t.equal(fs.statSync(path.join(diff!, 'tmp')).mode & 0o7777, 0o1777, 'the sticky bit of /tmp survives');
  t.equal(sha256File(path.join(diff!, 'bin/busybox')), sha256File('/bin/busybox'), 'busybox content is byte-exact');
  const whats = new Set(events.flatMap((e) => (e.kind === 'host' ? [e.detail.what] : [])));
  for (const w of ['resolve', 'http', 'manifest', 'layer', 'unpack', 'image']) t.ok(whats.has(w as never), `a ${w} event was emitted`);
  const listed = listImages(store);
  t.equal(listed.length, 1);
  t.equal(listed[0]!.repository, `${reg.host}/library/busybox`);
  t.equal(listed[0]!.tag, 'latest');
  t.match(listed[0]!.id, /^sha256:[a-f0-9]{64}$/);
  t.ok(listed[0]!.size > 1_000_000, 'size counts the unpacked layer');
});

t.test('a second pull finds every layer in the store and downloads no blob', async (t) => {
  const store = await tempStore(t);
  await pull(store, `${reg.host}/library/busybox`);
  const events: GlassboxEvent[] = [];
  const r = await pull(store, `${reg.host}/library/busybox`, { events: (e) => events.push(e) });
  t.notOk(r.layers[0]!.fetched);
  const blobGets = events.filter((e) => e.kind === 'host' && e.detail.what === 'http' && /\/blobs\//.test(e.detail.url));
  t.equal(blobGets.length, 1, 'only the config blob is fetched again');
});

t.test('a pull of a 100 MB image peaks under 150 MB of memory, and its layer bytes never reach the main thread', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'glassbox-store-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const root = path.join(dir, 'store');
  // In a process of its own, so that its peak is the pull's alone.
  const script = `
    const { Store } = await import(${JSON.stringify(new URL('../src/image/store.js', import.meta.url).href)});
    const { pull } = await import(${JSON.stringify(new URL('../src/image/pull.js', import.meta.url).href)});
    let mainBuffers = 0;
    const timer = setInterval(() => (mainBuffers = Math.max(mainBuffers, process.memoryUsage().arrayBuffers)), 5);
    await pull(await Store.open(${JSON.stringify(root)}), ${JSON.stringify(`${reg.host}/test/big:latest`)});
    clearInterval(timer);
    console.log(JSON.stringify({ maxRssKb: process.resourceUsage().maxRSS, mainBuffers }));`;
  const file = path.join(dir, 'pull.mjs');
  fs.writeFileSync(file, script);
  // tap's process hooks put themselves into every child's NODE_OPTIONS, with a loader thread of ~50 MB.
  const r = spawnSync('sh', ['-c', 'unset NODE_OPTIONS; exec "$0" "$@"', process.execPath, file], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  const { maxRssKb, mainBuffers } = JSON.parse(r.stdout) as { maxRssKb: number; mainBuffers: number };
  t.ok(maxRssKb < 150 * 1024, `peak RSS ${(maxRssKb / 1024).toFixed(0)} MB`);
  t.ok(mainBuffers < 8 << 20, `the main thread held at most ${(mainBuffers / 1048576).toFixed(1)} MB of buffers`);
});

t.test('an image in Docker schema 2 format pulls like an OCI one', async (t) => {
  const store = await tempStore(t);
  const r = await pull(store, `${reg.host}/test/busybox-v2s2`);
  t.equal(r.manifest.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
  t.equal(r.layers[0]!.diffId, (await pull(store, `${reg.host}/library/busybox`)).layers[0]!.diffId, 'same layer content, same diffID, shared');
  t.equal(fs.readdirSync(path.join(store.root, 'layers/sha256')).length, 1, 'the layer is unpacked once');
});

t.test('layers unpack into their own directories with overlayfs whiteouts', async (t) => {
  const store = await tempStore(t);
  const r = await pull(store, `${reg.host}/test/layered:latest`);
  assertStoreWhole(t, store);
  const dirs = layerDirs(store, r.image.name);
  t.equal(dirs.length, 4);
  const [, l2, l3, l4] = dirs as [string, string, string, string];
  // layer 2: hardlink, fifo, owner, xattr, symlink
  const a = fs.lstatSync(path.join(l2, 'data/a'));
  const hard = fs.lstatSync(path.join(l2, 'data/hard'));
  t.equal(a.ino, hard.ino, 'a hardlink shares its target inode');
  t.ok(fs.lstatSync(path.join(l2, 'data/fifo')).isFIFO(), 'a FIFO stays a FIFO');
  const owned = fs.lstatSync(path.join(l2, 'data/owned'));
  t.same([owned.uid, owned.gid], [1000, 1000], 'ownership from the tar header');
  t.equal(fs.readlinkSync(path.join(l2, 'link')), '/data/a', 'symlink targets are kept as written');
  const x = addon().lgetxattr(path.join(l2, 'data/xattr'), 'user.glassbox');
  t.equal(x?.toString(), 'test', 'xattrs from PAX headers are set');
  // layer 3: whiteout, opaque dir, mode change
  const wh = fs.lstatSync(path.join(l3, 'data/b'));
  t.ok(wh.isCharacterDevice(), '.wh.b became a character device');
  t.equal(wh.rdev, 0, 'with device number 0:0');
  t.notOk(fs.existsSync(path.join(l3, 'data/.wh.b')), 'no .wh. file is left');
  t.equal(addon().lgetxattr(path.join(l3, 'opq'), 'trusted.overlay.opaque')?.toString(), 'y', 'the opaque dir has trusted.overlay.opaque=y');
  t.same(fs.readdirSync(path.join(l3, 'opq')), ['new']);
  t.equal(fs.statSync(path.join(l3, 'etc/motd')).mode & 0o777, 0o600, 'the mode change is in the upper layer');
  // layer 4: a whole directory whited out
  t.ok(fs.lstatSync(path.join(l4, 'data/sub')).isCharacterDevice(), 'a directory whiteout is a character device too');
});

/** Type, mode, owner, size, content and link target of every path under root. */
function describeTree(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string) => {
    const abs = rel ? path.join(root, rel) : root;
    const st = fs.lstatSync(abs);
    let what: string;
    if (st.isSymbolicLink()) what = `link ${fs.readlinkSync(abs)}`;
    else if (st.isDirectory()) what = 'dir';
    else if (st.isFile()) what = `file ${st.size} ${sha256File(abs).slice(0, 16)}`;
    else if (st.isFIFO()) what = 'fifo';
    else if (st.isCharacterDevice()) what = `chr ${st.rdev}`;
    else what = 'other';
    const mode = st.isSymbolicLink() ? '' : (st.mode & 0o7777).toString(8);
    out.set(rel || '/', `${what} ${mode} ${st.uid}:${st.gid}`);
    if (st.isDirectory()) for (const n of fs.readdirSync(abs).sort()) walk(rel ? `${rel}/${n}` : n);
  };
  walk('');
  return out;
}

function umociUnpack(t: Test, layout: string): string {
  const bundle = fs.mkdtempSync(path.join(os.tmpdir(), 'glassbox-umoci-'));
  t.teardown(() => fs.rmSync(bundle, { recursive: true, force: true }));
  fs.rmdirSync(bundle);
  execFileSync('umoci', ['unpack', '--image', `${layout}:latest`, bundle], { stdio: 'ignore' });
  return path.join(bundle, 'rootfs');
}

for (const image of ['busybox', 'layered', 'big'] as const) {
  t.test(`glassbox export of ${image} matches umoci unpack file by file`, async (t) => {
    const store = await tempStore(t);
    const name = image === 'busybox' ? 'library/busybox' : `test/${image}`;
    await pull(store, `${reg.host}/${name}`);
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'glassbox-export-')), 'rootfs');
    t.teardown(() => fs.rmSync(path.dirname(out), { recursive: true, force: true }));
    const r = await exportImage(store, `${reg.host}/${name}`, out);
    const ours = describeTree(out);
    const theirs = describeTree(umociUnpack(t, fx.layout(image)));
    const keys = new Set([...ours.keys(), ...theirs.keys()]);
    let diffs = 0;
    for (const k of [...keys].sort()) {
      if (k === '/') continue; // umoci's bundle rootfs dir is made by umoci, not by the layer
      if (ours.get(k) !== theirs.get(k)) {
        diffs++;
        t.equal(ours.get(k), theirs.get(k), `${k} is the same`);
      }
    }
    t.equal(diffs, 0, `${keys.size} paths compared, no difference`);
    if (image === 'layered') {
      t.ok(r.stats.whiteouts >= 2 && r.stats.opaques >= 1, 'whiteouts and the opaque dir were applied');
      t.notOk(fs.existsSync(path.join(out, 'data/b')), 'the whited-out file is gone');
      t.notOk(fs.existsSync(path.join(out, 'data/sub')), 'the whited-out directory is gone');
      t.same(fs.readdirSync(path.join(out, 'opq')), ['new'], 'the opaque directory holds only the new file');
      t.ok(fs.existsSync(path.join(out, 'usr/lib/libfoo.so')), 'a write through lib -> usr/lib lands in usr/lib');
    }
  });
}

t.test('export refuses a directory that is not empty and leaves it alone', async (t) => {
  const store = await tempStore(t);
  await pull(store, `${reg.host}/library/busybox`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'glassbox-export-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'keep'), 'x');
  await t.rejects(exportImage(store, `${reg.host}/library/busybox`, dir), /not empty/);
  t.same(fs.readdirSync(dir), ['keep']);
  await t.rejects(exportImage(store, 'nosuch', path.join(dir, 'x')), /no such image/);
  t.same(fs.readdirSync(dir), ['keep']);
});

t.test('rmi removes the layers only its image used; prune removes leftovers', async (t) => {
  const store = await tempStore(t);
  await pull(store, `${reg.host}/library/busybox`);
  await pull(store, `${reg.host}/test/layered`);
  t.equal(fs.readdirSync(path.join(store.root, 'layers/sha256')).length, 4, 'the busybox layer is shared');
  const r = await removeImages(store, [`${reg.host}/test/layered`]);
  t.same(r.untagged, [`${reg.host}/test/layered:latest`]);
  t.equal(r.deleted.layers.length, 3, 'the three layers only layered used are deleted');
  t.equal(fs.readdirSync(path.join(store.root, 'layers/sha256')).length, 1, 'the shared layer stays');
  assertStoreWhole(t, store);
  await t.rejects(removeImages(store, ['nosuch:tag']), /no such image/);
  // leftovers of a killed pull: a temp file of a dead process, an orphan blob
  fs.writeFileSync(path.join(store.root, 'tmp', '999999999-abc-blob'), 'partial');
  fs.writeFileSync(path.join(store.root, 'blobs/sha256', createHash('sha256').update('orphan').digest('hex')), 'orphan');
  const p = await prune(store);
  t.equal(p.blobs.length, 1, 'the orphan blob is pruned');
  t.same(fs.readdirSync(path.join(store.root, 'tmp')), [], 'the dead process temp file is gone');
  await removeImages(store, [`${reg.host}/library/busybox`]);
  t.same(fs.readdirSync(path.join(store.root, 'layers/sha256')), []);
  t.same(fs.readdirSync(path.join(store.root, 'blobs/sha256')), []);
  t.same(store.images(), []);
});

t.test('pull by digest records name@digest, and rmi takes a short image id', async (t) => {
  const store = await tempStore(t);
  const first = await pull(store, `${reg.host}/library/busybox`);
  const byDigest = await pull(store, `${reg.host}/library/busybox@${first.image.digest}`);
  t.equal(byDigest.image.name, `${reg.host}/library/busybox@${first.image.digest}`);
  const id = first.manifest.config.digest.slice(7, 19);
  await t.rejects(removeImages(store, [id]), /referenced by/, 'an id with two names needs --force');
  const r = await removeImages(store, [id], true);
  t.equal(r.untagged.length, 2);
});

t.test('the CLI pulls, lists, exports and removes with one line per problem', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'glassbox-cli-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const bin = CLI_BIN;
  const run = (...args: string[]) => spawnSync(process.execPath, [bin, '--root', root, ...args], { encoding: 'utf8' });
  const p = run('pull', `${reg.host}/library/busybox`);
  t.equal(p.status, 0, p.stderr);
  t.match(p.stdout, /Pull complete/);
  t.match(p.stdout, /Digest: sha256:/);
  const imgs = run('images');
  t.match(imgs.stdout, /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE/);
  t.match(imgs.stdout, new RegExp(`${reg.host.replace('.', '\\.')}/library/busybox\\s+latest\\s+[a-f0-9]{12}`));
  const missing = run('pull', `${reg.host}/library/nosuch`);
  t.equal(missing.status, 1);
  t.equal(missing.stderr.trim().split('\n').length, 1, 'one line');
  t.match(missing.stderr, /^glassbox: pull .*not found \(404\)/);
  const bad = run('pull', '--nosuchflag', 'x');
  t.equal(bad.status, 1);
  t.match(bad.stderr, /^glassbox: unknown option '--nosuchflag'/);
  const rmi = run('rmi', `${reg.host}/library/busybox`);
  t.equal(rmi.status, 0, rmi.stderr);
  t.match(rmi.stdout, /Untagged: /);
  t.same(fs.readdirSync(path.join(root, 'tmp')), []);
});

t.test('credentials come from -u with --password-stdin, or from a docker credential helper', async (t) => {
  const auth = await startRegistry({ htpasswd: { user: 'student', password: 'correct horse' } });
  t.teardown(() => auth.stop());
  await auth.push(fx.layout('busybox'), 'library/busybox:latest');
  const bin = CLI_BIN;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'glassbox-creds-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const ref = `${auth.host}/library/busybox`;
  const noCreds = fs.mkdtempSync(path.join(os.tmpdir(), 'glassbox-dockercfg-'));
  t.teardown(() => fs.rmSync(noCreds, { recursive: true, force: true }));
  const env = { ...process.env, DOCKER_CONFIG: noCreds };
  const anon = spawnSync(process.execPath, [bin, '--root', root, 'pull', ref], { encoding: 'utf8', env });
  t.equal(anon.status, 1);
  t.match(anon.stderr, /^glassbox: pull .*unauthorized \(401\)/);
  const stdin = spawnSync(process.execPath, [bin, '--root', root, 'pull', '-q', '-u', 'student', '--password-stdin', ref], { encoding: 'utf8', env, input: 'correct horse\n' });
  t.equal(stdin.status, 0, stdin.stderr);
  t.equal(stdin.stdout, `${ref}:latest\n`);
  const half = spawnSync(process.execPath, [bin, '--root', root, 'pull', '-u', 'student', ref], { encoding: 'utf8', env });
  t.equal(half.status, 1);
  t.match(half.stderr, /--username needs --password-stdin/);
  // A credential helper, by docker's protocol: `docker-credential-NAME get`, server on stdin, JSON out.
  const helperDir = fs.mkdtempSync(path.join(os.tmpdir(), 'glassbox-credhelper-'));
  t.teardown(() => fs.rmSync(helperDir, { recursive: true, force: true }));
  fs.writeFileSync(
    path.join(helperDir, 'docker-credential-glassboxtest'),
    `#!/bin/sh\n[ "$1" = get ] || exit 1\nread server\n[ "$server" = "${auth.host}" ] || exit 1\necho '{"ServerURL":"'$server'","Username":"student","Secret":"correct horse"}'\n`,
    { mode: 0o755 },
  );
  fs.writeFileSync(path.join(helperDir, 'config.json'), JSON.stringify({ credHelpers: { [auth.host]: 'glassboxtest' } }));
  const store = await tempStore(t);
  const prev = { path: process.env.PATH, cfg: process.env.DOCKER_CONFIG };
  process.env.PATH = `${helperDir}:${prev.path}`;
  process.env.DOCKER_CONFIG = helperDir;
  try {
    const r = await pull(store, ref);
    t.equal(r.image.name, `${ref}:latest`, 'the helper supplied the credentials');
  } finally {
    process.env.PATH = prev.path;
    if (prev.cfg === undefined) delete process.env.DOCKER_CONFIG;
    else process.env.DOCKER_CONFIG = prev.cfg;
  }
});

t.test('--insecure-registry and loopback use plain HTTP; everything else HTTPS', async (t) => {
  t.match(new RegistryClient({ domain: 'registry.test:5000', repository: 'x' }).base, /^https:\/\/registry\.test:5000\/v2\/$/);
  t.match(new RegistryClient({ domain: 'registry.test:5000', repository: 'x', insecure: true }).base, /^http:\/\/registry\.test:5000\/v2\/$/);
  t.match(new RegistryClient({ domain: '127.0.0.1:5000', repository: 'x' }).base, /^http:\/\//);
  t.match(new RegistryClient({ domain: 'docker.io', repository: 'library/busybox' }).base, /^https:\/\/registry-1\.docker\.io\/v2\/$/);
});
