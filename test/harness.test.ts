// The test harness itself: fixture images build, registries start, skopeo
// pushes, and the images hold what later tests rely on.

import { execFile } from 'node:child_process';
import { lstat, mkdtemp, readFile, readdir, readlink, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { fixtureImages, type FixtureImages } from './lib/fixtures.js';
import { startRegistry, type Registry } from './lib/registry.js';

const USER = 'glassbox';
const PASSWORD = 'hunter2-but-longer';

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string; variant?: string };
  annotations?: Record<string, string>;
}
interface Manifest {
  schemaVersion: number;
  mediaType?: string;
  config?: Descriptor;
  layers?: Descriptor[];
  manifests?: Descriptor[];
}

async function inspectRaw(ref: string, creds?: string): Promise<Manifest> {
  const args = ['--insecure-policy', 'inspect', '--tls-verify=false', '--raw'];
  if (creds !== undefined) args.push('--creds', creds);
  else args.push('--no-creds');
  args.push(`docker://${ref}`);
  return JSON.parse(await run('skopeo', args)) as Manifest;
}

async function readBlob(layout: string, digest: string): Promise<Manifest> {
  const [alg, hex] = digest.split(':') as [string, string];
  return JSON.parse(await readFile(path.join(layout, 'blobs', alg, hex), 'utf8')) as Manifest;
}

async function taggedManifest(layout: string): Promise<Manifest> {
  const index = JSON.parse(await readFile(path.join(layout, 'index.json'), 'utf8')) as Manifest;
  const d = index.manifests?.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === 'latest');
  if (!d) throw new Error(`${layout} has no latest tag`);
  return readBlob(layout, d.digest);
}

let fx: FixtureImages;
let plain: Registry;
let authed: Registry;

t.before(async () => {
  fx = await fixtureImages();
  plain = await startRegistry();
  t.teardown(() => plain.stop());
  authed = await startRegistry({ htpasswd: { user: USER, password: PASSWORD } });
  t.teardown(() => authed.stop());
});

t.test('fixture layouts', async (t) => {
  for (const name of ['busybox', 'layered', 'multiarch', 'big'] as const) {
    const layout = fx.layout(name);
    t.equal(path.dirname(layout), fx.dir, `${name} lives in the cache dir`);
    const oci = JSON.parse(await readFile(path.join(layout, 'oci-layout'), 'utf8')) as { imageLayoutVersion: string };
    t.equal(oci.imageLayoutVersion, '1.0.0', `${name} is an OCI layout`);
  }
  const bb = await taggedManifest(fx.layout('busybox'));
  t.equal(bb.layers?.length, 1, 'busybox has one layer');
  const cfg = (await readBlob(fx.layout('busybox'), bb.config!.digest)) as unknown as {
    architecture: string;
    os: string;
    config: { Cmd: string[]; Env: string[] };
  };
  t.same(cfg.config.Cmd, ['sh']);
  t.match(cfg.config.Env, [/^PATH=.*\/bin$/]);
  t.equal(cfg.os, 'linux');

  t.equal((await taggedManifest(fx.layout('layered'))).layers?.length, 4, 'layered has 4 layers');

  const big = await taggedManifest(fx.layout('big'));
  t.ok((big.layers?.length ?? 0) >= 5, 'big has busybox + at least 4 layers');
  const compressed = (big.layers ?? []).reduce((n, l) => n + l.size, 0);
  t.ok(compressed > 90 * 1024 * 1024, `big is mostly incompressible (${compressed} bytes compressed)`);
});

t.test('plain registry: push and inspect', async (t) => {
  const v2 = await fetch(`${plain.url}/v2/`);
  t.equal(v2.status, 200, 'GET /v2/ is open');
  await v2.arrayBuffer();

  await plain.push(fx.layout('busybox'), 'library/busybox:latest');
  await plain.push(fx.layout('layered'), 'test/layered:latest');
  await plain.push(fx.layout('multiarch'), 'test/multiarch:latest', { all: true });

  const bb = await inspectRaw(`${plain.host}/library/busybox:latest`);
  t.equal(bb.schemaVersion, 2);
  t.equal(bb.layers?.length, 1, 'busybox manifest has one layer');
  t.equal(bb.config?.mediaType, 'application/vnd.oci.image.config.v1+json', 'pushed as OCI');

  const layered = await inspectRaw(`${plain.host}/test/layered:latest`);
  t.equal(layered.layers?.length, 4, 'layered manifest has 4 layers');

  const multi = await inspectRaw(`${plain.host}/test/multiarch:latest`);
  t.equal(multi.mediaType, 'application/vnd.oci.image.index.v1+json', 'multiarch is an index');
  t.equal(multi.manifests?.length, 2, 'with two manifests');
  t.same(
    multi.manifests?.map((m) => m.platform),
    [
      { architecture: 'amd64', os: 'linux' },
      { architecture: 'arm64', os: 'linux', variant: 'v8' },
    ],
  );
  for (const m of multi.manifests ?? []) {
    const inner = await inspectRaw(`${plain.host}/test/multiarch@${m.digest}`);
    t.equal(inner.layers?.length, 2, `${m.platform?.architecture} manifest was pushed too`);
  }

  // distribution 2.8 only serves an OCI manifest to clients that accept it.
  const res = await fetch(`${plain.url}/v2/library/busybox/manifests/latest`, {
    headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
  });
  t.equal(res.status, 200);
  t.equal(res.headers.get('content-type'), 'application/vnd.oci.image.manifest.v1+json');
  t.match(res.headers.get('docker-content-digest'), /^sha256:[0-9a-f]{64}$/);
  await res.arrayBuffer();
});

t.test('htpasswd registry: auth required', async (t) => {
  const v2 = await fetch(`${authed.url}/v2/`);
  t.equal(v2.status, 401, 'anonymous GET /v2/ is refused');
  t.match(v2.headers.get('www-authenticate'), /^Basic realm="glassbox-test"/);
  await v2.arrayBuffer();

  const basic = Buffer.from(`${USER}:${PASSWORD}`).toString('base64');
  const ok = await fetch(`${authed.url}/v2/`, { headers: { authorization: `Basic ${basic}` } });
  t.equal(ok.status, 200, 'GET /v2/ with the right password');
  await ok.arrayBuffer();

  t.equal(authed.creds, `${USER}:${PASSWORD}`);
  await authed.push(fx.layout('busybox'), 'library/busybox:latest');
  await authed.push(fx.layout('multiarch'), 'test/multiarch:latest', { all: true });

  const bb = await inspectRaw(`${authed.host}/library/busybox:latest`, authed.creds);
  t.equal(bb.layers?.length, 1, 'busybox is there');
  const multi = await inspectRaw(`${authed.host}/test/multiarch:latest`, authed.creds);
  t.equal(multi.manifests?.length, 2, 'multiarch index is there');

  await t.rejects(inspectRaw(`${authed.host}/library/busybox:latest`), 'no creds, no manifest');
  await t.rejects(
    authed.push(fx.layout('busybox'), 'library/other:latest', { creds: `${USER}:wrong` }),
    'wrong password cannot push',
  );
});

t.test('layered unpacks the OCI way (umoci)', async (t) => {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'glassbox-harness-'));
  t.teardown(() => rm(tmp, { recursive: true, force: true }));
  const bundle = path.join(tmp, 'bundle');
  await run('umoci', ['unpack', '--image', `${fx.layout('layered')}:latest`, bundle]);
  const root = path.join(bundle, 'rootfs');
  const at = (p: string) => path.join(root, p);
  const exists = (p: string) =>
    lstat(at(p)).then(
      () => true,
      () => false,
    );

  t.equal(await readFile(at('data/a'), 'utf8'), 'alpha');
  t.notOk(await exists('data/b'), '/data/b whited out');
  t.notOk(await exists('data/sub'), '/data/sub whited out as a directory');
  t.same((await readdir(at('opq'))).sort(), ['new'], '/opq is opaque: only new remains');
  t.equal((await lstat(at('etc/motd'))).mode & 0o7777, 0o600, '/etc/motd chmodded to 0600');

  const lib = await lstat(at('lib'));
  t.ok(lib.isSymbolicLink(), '/lib is still a symlink');
  t.equal(await readlink(at('lib')), 'usr/lib');
  t.ok((await lstat(at('usr/lib/libfoo.so'))).isFile(), 'lib/libfoo.so landed in usr/lib');

  t.equal(await readlink(at('link')), '/data/a', '/link -> /data/a');
  const [a, hard] = await Promise.all([lstat(at('data/a')), lstat(at('data/hard'))]);
  t.equal(hard.ino, a.ino, '/data/hard is a hardlink of /data/a');
  t.ok((await lstat(at('data/fifo'))).isFIFO(), '/data/fifo is a FIFO');
  const owned = await lstat(at('data/owned'));
  t.same([owned.uid, owned.gid], [1000, 1000], '/data/owned is 1000:1000');
  const tmpDir = await lstat(at('tmp'));
  t.equal(tmpDir.mode & 0o7777, 0o1777, '/tmp is 1777');
  t.ok((await lstat(at('bin/sh'))).isSymbolicLink(), '/bin/sh is an applet symlink');
});

t.test('multiarch layout: each platform says which it is', async (t) => {
  const layout = fx.layout('multiarch');
  const top = JSON.parse(await readFile(path.join(layout, 'index.json'), 'utf8')) as Manifest;
  t.equal(top.manifests?.length, 1);
  t.equal(top.manifests?.[0]?.mediaType, 'application/vnd.oci.image.index.v1+json', 'index.json points to an index');
  const inner = await readBlob(layout, top.manifests![0]!.digest);
  for (const m of inner.manifests ?? []) {
    const man = await readBlob(layout, m.digest);
    const last = man.layers![man.layers!.length - 1]!;
    const [, hex] = last.digest.split(':');
    const listing = await run('tar', ['-xzOf', path.join(layout, 'blobs', 'sha256', hex!), 'platform']);
    t.equal(listing, m.platform?.architecture, `/platform of ${m.platform?.architecture}`);
  }
});
