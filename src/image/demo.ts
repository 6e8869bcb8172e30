// The built-in demo image, glassbox/demo:latest, made on this machine from the
// static glassbox-demo binary that the native build leaves beside the addon.
// No registry is involved: the image is written as an OCI layout to a temp
// directory and loaded through the same path as `glassbox load`, so it is
// verified and unpacked like any other image.
//
// The build is reproducible: fixed entry order, times, owners and gzip level,
// and no creation date in the config. The image digest therefore changes only
// when the binary does (or when zlib compresses differently, which moves the
// layer digest but never the diffID).
import * as fs from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import type { EventSink } from '../events/schema.js';
import { GlassboxError } from '../util/errors.js';
import { packageRoot } from '../util/paths.js';
import { digestOf, parseDigest } from './digest.js';
import { loadImages } from './interchange.js';
import { MT, type Descriptor, type ImageConfig, type ImageManifest } from './mediatypes.js';
import { hostPlatform } from './platform.js';
import { recordName } from './resolve.js';
import { parseReference } from './reference.js';
import type { ImageRecord, Store } from './store.js';

export const DEMO_IMAGE = 'glassbox/demo:latest';
/** The config label holding the sha256 of the binary an image was made from. */
export const DEMO_LABEL = 'org.glassbox.demo.sha256';
const DEMO_PATH = '/glassbox-demo';
// The Unix epoch: any constant would do, and 0 is what reproducible-build tools use.
const EPOCH = new Date(0);
const GZIP_LEVEL = 9;

/** Where the native build leaves the demo binary. */
export function demoBinaryPath(): string {
  return join(packageRoot(), 'native', 'build', 'Release', 'glassbox-demo');
}

interface Entry {
  name: string;
  mode: number;
  body?: Buffer;
}

function rootfsEntries(binary: Buffer): Entry[] {
  const text = (s: string) => Buffer.from(s, 'utf8');
  const entries: Entry[] = [
    // Mount points the runtime mounts over; they must exist in the image.
    { name: 'dev/', mode: 0o755 },
    { name: 'proc/', mode: 0o755 },
    { name: 'sys/', mode: 0o755 },
    { name: 'tmp/', mode: 0o1777 },
    { name: 'etc/', mode: 0o755 },
    // So `id`-style lookups and `-u root` resolve; the demo is the only program, hence the shell.
    { name: 'etc/passwd', mode: 0o644, body: text('root:x:0:0:root:/:/glassbox-demo\n') },
    { name: 'etc/group', mode: 0o644, body: text('root:x:0:\n') },
    { name: DEMO_PATH.slice(1), mode: 0o755, body: binary },
  ];
  return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

async function tarOf(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) {
    const common = { name: e.name, mode: e.mode, mtime: EPOCH, uid: 0, gid: 0, uname: 'root', gname: 'root' };
    if (e.body) pack.entry({ ...common, type: 'file', size: e.body.length }, e.body);
    else pack.entry({ ...common, type: 'directory' });
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export interface DemoLayout {
  /** Every blob by digest: layer, config, manifest. */
  blobs: Map<string, Buffer>;
  manifest: Descriptor;
}

/** The demo image's blobs, made from the binary; the same bytes in, the same digests out. */
export async function demoImageBlobs(binary: Buffer): Promise<DemoLayout> {
  const layerTar = await tarOf(rootfsEntries(binary));
  const layer = gzipSync(layerTar, { level: GZIP_LEVEL });
  const platform = hostPlatform();
  const config: ImageConfig = {
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      Entrypoint: [DEMO_PATH],
      WorkingDir: '/',
      Labels: { [DEMO_LABEL]: parseDigest(digestOf(binary)).hex },
    },
    rootfs: { type: 'layers', diff_ids: [digestOf(layerTar)] },
    history: [{ created_by: 'created by glassbox from native/demo/demo.c' }],
  };
  const configBody = Buffer.from(JSON.stringify(config));
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    config: { mediaType: MT.ociConfig, digest: digestOf(configBody), size: configBody.length },
    layers: [{ mediaType: MT.ociLayerGzip, digest: digestOf(layer), size: layer.length }],
  };
  const manifestBody = Buffer.from(JSON.stringify(manifest));
  const blobs = new Map<string, Buffer>([
    [manifest.layers[0]!.digest, layer],
    [manifest.config.digest, configBody],
    [digestOf(manifestBody), manifestBody],
  ]);
  return { blobs, manifest: { mediaType: MT.ociManifest, digest: digestOf(manifestBody), size: manifestBody.length } };
}

function writeLayout(dir: string, image: DemoLayout): void {
  fs.mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true, mode: 0o700 });
  fs.writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const index = { schemaVersion: 2, mediaType: MT.ociIndex, manifests: [{ ...image.manifest, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }] };
  fs.writeFileSync(join(dir, 'index.json'), JSON.stringify(index));
  for (const [digest, body] of image.blobs) fs.writeFileSync(join(dir, 'blobs', 'sha256', parseDigest(digest).hex), body);
}

/** The stored demo image, if it was made from this binary and is whole. */
function storedDemo(store: Store, name: string, binaryHex: string): ImageRecord | undefined {
  const rec = store.images().find((r) => r.name === name);
  if (!rec) return undefined;
  try {
    const manifest = store.manifest(rec.digest);
    const config = store.config(manifest);
    if (config.config?.Labels?.[DEMO_LABEL] !== binaryHex) return undefined;
    if (!manifest.layers.every((l) => store.hasBlob(l.digest, l.size))) return undefined;
    if (!config.rootfs.diff_ids.every((d) => store.hasLayer(d))) return undefined;
    return rec;
  } catch {
    return undefined; // a damaged record is simply made again
  }
}

/**
 * Make glassbox/demo:latest in the store from the built binary, unless the
 * stored one was made from the same binary; either way return its record.
 */
export async function ensureDemoImage(store: Store, o: { events?: EventSink } = {}): Promise<ImageRecord> {
  const file = demoBinaryPath();
  let binary: Buffer;
  try {
    binary = fs.readFileSync(file);
  } catch (e) {
    throw new GlassboxError('the demo binary is missing: run "npm run build:native"', { op: 'demo', subject: file, code: 'ENOENT', cause: e });
  }
  const name = recordName(parseReference(DEMO_IMAGE));
  const binaryHex = parseDigest(digestOf(binary)).hex;
  // Two glassbox processes starting at once would both build; one is enough.
  const lock = await store.lock('demo-image');
  try {
    const existing = storedDemo(store, name, binaryHex);
    if (existing) return existing;
    const dir = store.tmpPath('demo-layout');
    try {
      writeLayout(dir, await demoImageBlobs(binary));
      const records = await loadImages(store, dir, { name: DEMO_IMAGE, events: o.events });
      const rec = records.find((r) => r.name === name);
      if (!rec) throw new GlassboxError(`loading the demo layout tagged ${records.map((r) => r.name).join(', ')}`, { op: 'demo', subject: name, code: 'EPROTO' });
      return rec;
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    lock.release();
  }
}
