// Layers come gzipped, zstd-compressed or plain: all three pull and load.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { exportImage } from '../src/image/images.js';
import { loadImages } from '../src/image/interchange.js';
import { MT } from '../src/image/mediatypes.js';
import { hostPlatform } from '../src/image/platform.js';
import { pull } from '../src/image/pull.js';
import { Store } from '../src/image/store.js';
import { startRegistry, type Registry } from './lib/registry.js';
import { tmpdir } from './lib/tmp.js';

let reg: Registry;
t.before(async () => {
  reg = await startRegistry();
});
t.teardown(async () => reg?.stop());


const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** An OCI layout, by hand: a plain tar layer, then a zstd one that deletes a file of the first. */
function buildLayout(dir: string): string {
  const layout = path.join(dir, 'layout');
  fs.mkdirSync(path.join(layout, 'blobs/sha256'), { recursive: true });
  const put = (b: Buffer) => {
    const d = sha(b);
    fs.writeFileSync(path.join(layout, 'blobs/sha256', d.slice(7)), b);
    return d;
  };
  const l1 = path.join(dir, 'l1');
  fs.mkdirSync(path.join(l1, 'etc'), { recursive: true });
  fs.writeFileSync(path.join(l1, 'etc/plain'), 'from a plain tar layer\n');
  fs.writeFileSync(path.join(l1, 'etc/doomed'), 'deleted by the zstd layer\n');
  const tar1 = execFileSync('tar', ['-C', l1, '--owner=0', '--group=0', '--numeric-owner', '-cf', '-', 'etc']);
  const l2 = path.join(dir, 'l2');
  fs.mkdirSync(path.join(l2, 'etc'), { recursive: true });
  fs.writeFileSync(path.join(l2, 'etc/zstd'), 'from a zstd layer\n'.repeat(1000));
  fs.writeFileSync(path.join(l2, 'etc/.wh.doomed'), '');
  const tar2 = execFileSync('tar', ['-C', l2, '--owner=0', '--group=0', '--numeric-owner', '-cf', '-', 'etc']);
  const zst2 = execFileSync('zstd', ['-q', '-c', '-19'], { input: tar2 });
  const p = hostPlatform();
  const config = Buffer.from(
    JSON.stringify({ architecture: p.architecture, os: 'linux', config: { Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: [sha(tar1), sha(tar2)] } }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: { mediaType: MT.ociConfig, digest: put(config), size: config.length },
      layers: [
        { mediaType: MT.ociLayer, digest: put(tar1), size: tar1.length },
        { mediaType: MT.ociLayerZstd, digest: put(zst2), size: zst2.length },
      ],
    }),
  );
  const md = put(manifest);
  fs.writeFileSync(path.join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  fs.writeFileSync(
    path.join(layout, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: MT.ociManifest, digest: md, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }] }),
  );
  return layout;
}

function checkRootfs(t: Test, root: string): void {
  t.equal(fs.readFileSync(path.join(root, 'etc/plain'), 'utf8'), 'from a plain tar layer\n', 'the plain layer unpacked');
  t.equal(fs.readFileSync(path.join(root, 'etc/zstd'), 'utf8'), 'from a zstd layer\n'.repeat(1000), 'the zstd layer unpacked');
  t.notOk(fs.existsSync(path.join(root, 'etc/doomed')), "the zstd layer's whiteout applied");
}

t.test('a plain tar layer and a zstd layer load and export', async (t) => {
  const dir = tmpdir(t, 'zstd');
  const store = await Store.open(path.join(dir, 'store'));
  const [rec] = await loadImages(store, buildLayout(dir), { name: 'test/zstd' });
  t.ok(rec);
  const out = path.join(dir, 'rootfs');
  await exportImage(store, 'test/zstd', out);
  checkRootfs(t, out);
});

t.test('a plain tar layer and a zstd layer pull from a registry', async (t) => {
  const dir = tmpdir(t, 'zstd');
  await reg.push(buildLayout(dir), 'test/zstd:latest');
  const store = await Store.open(path.join(dir, 'store'));
  const r = await pull(store, `${reg.host}/test/zstd`);
  // skopeo compresses a plain layer on its way to a registry; the zstd one it keeps.
  t.equal(r.manifest.layers[1]!.mediaType, MT.ociLayerZstd, 'the zstd layer arrives as zstd');
  const [, l2] = r.layers.map((l) => store.layerDiff(l.diffId));
  t.ok(fs.lstatSync(path.join(l2!, 'etc/doomed')).isCharacterDevice(), 'the whiteout is an overlay whiteout in its layer');
  const out = path.join(dir, 'rootfs');
  await exportImage(store, `${reg.host}/test/zstd`, out);
  checkRootfs(t, out);
});
