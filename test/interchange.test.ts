// Images trade with skopeo and umoci: what they write, glassbox loads; what
// glassbox saves, they read.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { exportImage, listImages } from '../src/image/images.js';
import { loadImages, saveImages } from '../src/image/interchange.js';
import { parsePlatform } from '../src/image/platform.js';
import { pull } from '../src/image/pull.js';
import { Store } from '../src/image/store.js';
import { fixtureImages, type FixtureImages } from './lib/fixtures.js';
import { startRegistry, type Registry } from './lib/registry.js';
import { tmpdir } from './lib/tmp.js';

/** The CLI compiled with this test, wherever that is (dist/, or a private out dir). */
const CLI_BIN = fileURLToPath(new URL('../src/cli/bin.js', import.meta.url));

let fx: FixtureImages;
let reg: Registry;

t.before(async () => {
  fx = await fixtureImages();
  reg = await startRegistry();
});
t.teardown(async () => reg?.stop());


async function tempStore(t: Test): Promise<Store> {
  return Store.open(tmpdir(t, 'store'));
}

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function treeDigest(root: string): string {
  const h = createHash('sha256');
  const walk = (rel: string) => {
    const abs = rel ? path.join(root, rel) : root;
    const st = fs.lstatSync(abs);
    h.update(`${rel}|${st.mode}|${st.uid}:${st.gid}|`);
    if (st.isSymbolicLink()) h.update(fs.readlinkSync(abs));
    else if (st.isFile()) h.update(fs.readFileSync(abs));
    else if (st.isDirectory()) for (const n of fs.readdirSync(abs).sort()) walk(rel ? `${rel}/${n}` : n);
  };
  for (const n of fs.readdirSync(root).sort()) walk(n);
  return h.digest('hex');
}

function assertEmptyStore(t: Test, store: Store): void {
  t.same(store.images(), [], 'no image recorded');
  t.same(fs.readdirSync(path.join(store.root, 'blobs/sha256')), [], 'no blob left');
  t.same(fs.readdirSync(path.join(store.root, 'layers/sha256')), [], 'no layer left');
  t.same(fs.readdirSync(path.join(store.root, 'tmp')), [], 'tmp/ is empty');
}

t.test('an OCI layout made by umoci loads, and exports the rootfs umoci unpacks', async (t) => {
  const store = await tempStore(t);
  const recs = await loadImages(store, fx.layout('layered'), { name: 'test/layered' });
  t.same(recs.map((r) => r.name), ['docker.io/test/layered:latest']);
  const out = path.join(tmpdir(t, 'export'), 'rootfs');
  await exportImage(store, 'test/layered', out);
  const bundle = path.join(tmpdir(t, 'umoci'), 'b');
  sh('umoci', ['unpack', '--image', `${fx.layout('layered')}:latest`, bundle]);
  t.equal(treeDigest(out), treeDigest(path.join(bundle, 'rootfs')), 'the same tree, byte for byte');
});

t.test('a multi-platform layout loads the host platform, or the one asked for', async (t) => {
  const store = await tempStore(t);
  const [host] = await loadImages(store, fx.layout('multiarch'), { name: 'test/multi' });
  t.equal(host!.platform, 'linux/amd64');
  t.ok(host!.index, 'the index is kept with the image');
  const store2 = await tempStore(t);
  const [arm] = await loadImages(store2, fx.layout('multiarch'), { name: 'test/multi', platform: parsePlatform('linux/arm64') });
  t.equal(arm!.platform, 'linux/arm64/v8');
  const out = path.join(tmpdir(t, 'export'), 'rootfs');
  await exportImage(store2, 'test/multi', out);
  t.equal(fs.readFileSync(path.join(out, 'platform'), 'utf8').trim(), 'arm64');
  await t.rejects(loadImages(await tempStore(t), fx.layout('multiarch'), { platform: parsePlatform('linux/s390x') }), /no image for platform linux\/s390x/);
});

t.test('a saved OCI layout is read by umoci and skopeo, and pulls back to the same digest', async (t) => {
  const store = await tempStore(t);
  await loadImages(store, fx.layout('layered'), { name: 'test/layered' });
  const layout = path.join(tmpdir(t, 'layout'), 'oci');
  await saveImages(store, ['test/layered'], layout);
  const bundle = path.join(tmpdir(t, 'umoci'), 'b');
  sh('umoci', ['unpack', '--image', `${layout}:latest`, bundle]);
  const out = path.join(tmpdir(t, 'export'), 'rootfs');
  await exportImage(store, 'test/layered', out);
  t.equal(treeDigest(path.join(bundle, 'rootfs')), treeDigest(out), 'umoci unpacks what glassbox exports');
  sh('skopeo', ['--insecure-policy', 'copy', '--dest-tls-verify=false', `oci:${layout}:latest`, `docker://${reg.host}/roundtrip/layered:v1`]);
  const store2 = await tempStore(t);
  const pulled = await pull(store2, `${reg.host}/roundtrip/layered:v1`);
  t.equal(pulled.image.digest, store.images()[0]!.digest, 'the manifest digest survives the round trip');
});

t.test('a saved archive is read by skopeo as docker-archive and loads back', async (t) => {
  const store = await tempStore(t);
  await loadImages(store, fx.layout('busybox'), { name: 'library/busybox:1.0' });
  const file = path.join(tmpdir(t, 'archive'), 'busybox.tar');
  await saveImages(store, ['busybox:1.0'], file);
  const info = JSON.parse(sh('skopeo', ['inspect', `docker-archive:${file}`])) as { RepoTags: string[]; Layers: string[] };
  t.equal(info.Layers.length, 1, 'skopeo sees the layer');
  const viaOci = JSON.parse(sh('skopeo', ['inspect', `oci-archive:${file}:1.0`])) as { Layers: string[] };
  t.equal(viaOci.Layers.length, 1, 'the same file is an OCI archive too');
  const store2 = await tempStore(t);
  const recs = await loadImages(store2, file);
  t.same(recs.map((r) => r.name), ['docker.io/library/busybox:1.0'], 'the name comes back from the archive');
  t.equal(listImages(store2)[0]!.id, listImages(store)[0]!.id, 'the same image ID');
});

t.test('an archive written by skopeo (docker-archive) loads with its tag', async (t) => {
  const file = path.join(tmpdir(t, 'skopeo'), 'img.tar');
  sh('skopeo', ['--insecure-policy', 'copy', `oci:${fx.layout('layered')}:latest`, `docker-archive:${file}:example.test/team/layered:v2`]);
  const store = await tempStore(t);
  const recs = await loadImages(store, file);
  t.same(recs.map((r) => r.name), ['example.test/team/layered:v2']);
  const out = path.join(tmpdir(t, 'export'), 'rootfs');
  await exportImage(store, 'example.test/team/layered:v2', out);
  t.notOk(fs.existsSync(path.join(out, 'data/b')), 'its whiteouts apply');
  t.same(fs.readdirSync(path.join(out, 'opq')), ['new']);
});

t.test('broken or hostile archives fail with one line and leave nothing behind', async (t) => {
  const dir = tmpdir(t, 'bad');
  const store = await tempStore(t);
  // not a tar at all
  fs.writeFileSync(path.join(dir, 'junk.tar'), 'this is not a tar archive'.repeat(40));
  await t.rejects(loadImages(store, path.join(dir, 'junk.tar')), /load .*junk\.tar/);
  assertEmptyStore(t, store);
  // a docker archive whose manifest points outside itself
  const evil = path.join(dir, 'evil');
  fs.mkdirSync(evil);
  fs.writeFileSync(path.join(evil, 'manifest.json'), JSON.stringify([{ Config: '../../../etc/passwd', RepoTags: ['x:1'], Layers: [] }]));
  sh('tar', ['-C', evil, '-cf', path.join(dir, 'evil.tar'), 'manifest.json']);
  await t.rejects(loadImages(store, path.join(dir, 'evil.tar')), /path leaves the archive/);
  assertEmptyStore(t, store);
  // a layout whose layer blob was tampered with: the last layer is corrupted, the first ones were whole
  const layout = path.join(dir, 'layout');
  fs.cpSync(fx.layout('layered'), layout, { recursive: true });
  const index = JSON.parse(fs.readFileSync(path.join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  const manifest = JSON.parse(fs.readFileSync(path.join(layout, 'blobs/sha256', index.manifests[0]!.digest.slice(7)), 'utf8')) as { layers: { digest: string }[] };
  const last = path.join(layout, 'blobs/sha256', manifest.layers[manifest.layers.length - 1]!.digest.slice(7));
  const bytes = fs.readFileSync(last);
  bytes[Math.floor(bytes.length / 2)] ^= 0xff;
  fs.writeFileSync(last, bytes);
  await t.rejects(loadImages(store, layout, { name: 'x' }), /^load \S+: layer sha256:[a-f0-9]{64}: digest mismatch/);
  assertEmptyStore(t, store);
  // the CLI says it in one line
  const bin = CLI_BIN;
  const r = spawnSync(process.execPath, [bin, '--root', store.root, 'load', '-i', path.join(dir, 'nope.tar')], { encoding: 'utf8' });
  t.equal(r.status, 1);
  t.equal(r.stderr, `glassbox: load ${path.join(dir, 'nope.tar')}: no such file or directory\n`);
});

t.test('save refuses a directory that is not empty and writes no partial archive', async (t) => {
  const store = await tempStore(t);
  await loadImages(store, fx.layout('busybox'), { name: 'busybox' });
  const dir = tmpdir(t, 'save');
  fs.writeFileSync(path.join(dir, 'keep'), 'x');
  await t.rejects(saveImages(store, ['busybox'], dir), /not empty/);
  t.same(fs.readdirSync(dir), ['keep']);
  await t.rejects(saveImages(store, ['nosuch'], path.join(dir, 'x.tar')), /no such image/);
  t.same(fs.readdirSync(dir), ['keep']);
});
