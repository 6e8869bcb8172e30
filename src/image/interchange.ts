// Images in and out of the store without a registry: OCI image layouts (what
// skopeo and umoci read and write) and `docker save` archives. What save
// writes is both at once, as docker 25+ does: an OCI layout (oci-layout,
// index.json, blobs/) plus the manifest.json that docker load reads.
import * as fs from 'node:fs';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import type { EventSink } from '../events/schema.js';
import { dropEvents, hostEvent } from '../events/schema.js';
import { GlassboxError, errnoOf } from '../util/errors.js';
import { digestOf, parseDigest } from './digest.js';
import { resolveImage } from './resolve.js';
import { ensureLayer } from './layerfetch.js';
import { asWriter, type WriterSession } from './writer.js';
import { isIndex, MT, type Descriptor, type ImageConfig, type ImageIndex, type ImageManifest } from './mediatypes.js';
import { formatPlatform, hostPlatform, type Platform } from './platform.js';
import { checkConfig, checkManifest, selectManifest } from './pull.js';
import { recordName } from './resolve.js';
import { familiarName, parseReference } from './reference.js';
import type { ImageRecord, Store } from './store.js';
import { layerExtractor } from './unpack.js';

const REF_NAME = 'org.opencontainers.image.ref.name';
const CONTAINERD_NAME = 'io.containerd.image.name';
const OCI_LAYOUT = JSON.stringify({ imageLayoutVersion: '1.0.0' });
const MAX_JSON_BLOB = 8 * 1024 * 1024;

function fail(op: string, subject: string, msg: string, code = 'EINVAL'): GlassboxError {
  return new GlassboxError(msg, { op, subject, code });
}

// ---------------------------------------------------------------- load

export interface LoadOptions {
  /** Name for images whose layout names only a tag (skopeo's and umoci's do). */
  name?: string;
  platform?: Platform;
  events?: EventSink;
}

interface DockerArchiveEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

/** A directory holding an image source: an OCI layout or an unpacked docker archive. */
class SourceDir {
  constructor(readonly dir: string) {}

  /** A path inside the source, refusing any that would leave it. */
  path(rel: string): string {
    const parts = rel.split('/').filter((p) => p !== '' && p !== '.');
    if (parts.some((p) => p === '..')) throw fail('load', rel, 'path leaves the archive');
    const p = join(this.dir, ...parts);
    const st = fs.lstatSync(p, { throwIfNoEntry: false });
    if (!st) throw fail('load', rel, 'missing from the archive', 'ENOENT');
    if (!st.isFile()) throw fail('load', rel, 'is not a regular file in the archive');
    return p;
  }

  blobPath(digest: string): string {
    const { algorithm, hex } = parseDigest(digest);
    return this.path(`blobs/${algorithm}/${hex}`);
  }

  /** A JSON blob, checked against its digest. */
  jsonBlob<T>(digest: string, what: string): { body: Buffer; value: T } {
    const p = this.blobPath(digest);
    if (fs.statSync(p).size > MAX_JSON_BLOB) throw fail('load', digest, `${what} is too large`);
    const body = fs.readFileSync(p);
    const got = digestOf(body, parseDigest(digest).algorithm);
    if (got !== digest) throw fail('load', digest, `${what}: digest mismatch: content is ${got}`, 'EBADMSG');
    try {
      return { body, value: JSON.parse(body.toString('utf8')) as T };
    } catch {
      throw fail('load', digest, `${what} is not JSON`, 'EBADMSG');
    }
  }

  json<T>(rel: string): T {
    try {
      return JSON.parse(fs.readFileSync(this.path(rel), 'utf8')) as T;
    } catch (e) {
      if (e instanceof GlassboxError) throw e;
      throw fail('load', rel, 'is not valid JSON', 'EBADMSG');
    }
  }
}

/** Store one image (manifest, config, layers) from a source, then tag it. */
async function importImage(
  store: Store,
  manifestBody: Buffer,
  manifest: ImageManifest,
  configBody: Buffer,
  layerPath: (desc: Descriptor, i: number) => string,
  names: string[],
  index: { digest: string; body: Buffer } | undefined,
  events: EventSink,
  { pool, committed }: WriterSession,
): Promise<ImageRecord[]> {
  const manifestDigest = digestOf(manifestBody);
  const config = JSON.parse(configBody.toString('utf8')) as ImageConfig;
  checkManifest(manifest, `manifest ${manifestDigest}`);
  checkConfig(config, manifest, `image config ${manifest.config.digest}`);
  for (const [i, desc] of manifest.layers.entries()) {
    const file = layerPath(desc, i);
    await ensureLayer(store, desc, config.rootfs.diff_ids[i]!, async () => ({ file, length: fs.statSync(file).size }), {
      events,
      retries: 0,
      committed,
      op: 'load',
      subject: names[0],
      pool,
    });
  }
  const blobs: [string, Buffer][] = [
    [manifest.config.digest, configBody],
    [manifestDigest, manifestBody],
  ];
  if (index) blobs.push([index.digest, index.body]);
  for (const [d, b] of blobs) {
    if (!store.hasBlob(d)) {
      store.writeBlob(d, b);
      committed.blobs.push(d);
    }
  }
  const platform = formatPlatform({ os: config.os, architecture: config.architecture, variant: config.variant });
  const records = names.map((name) => ({ name, digest: manifestDigest, index: index?.digest, platform, tagged: new Date().toISOString() }));
  for (const r of records) {
    await store.tag(r);
    events(hostEvent({ what: 'image', name: r.name, digest: r.digest, layers: manifest.layers.length, size: manifest.layers.reduce((n, l) => n + l.size, 0) }));
  }
  return records;
}

function normalizeName(n: string, op: string): string {
  try {
    return recordName(parseReference(n));
  } catch (e) {
    throw fail(op, n, `not a valid image name: ${(e as Error).message}`);
  }
}

async function loadOciLayout(store: Store, src: SourceDir, label: string, o: LoadOptions, w: WriterSession): Promise<ImageRecord[]> {
  const events = o.events ?? dropEvents;
  const layout = src.json<{ imageLayoutVersion?: string }>('oci-layout');
  if (!layout.imageLayoutVersion) throw fail('load', label, 'oci-layout has no imageLayoutVersion');
  const top = src.json<ImageIndex>('index.json');
  if (!Array.isArray(top.manifests)) throw fail('load', label, 'index.json has no manifests list');
  const out: ImageRecord[] = [];
  const want = o.platform ?? hostPlatform();
  for (const entry of top.manifests) {
    parseDigest(entry.digest, 'manifest digest');
    const refName = entry.annotations?.[REF_NAME];
    const fullName = entry.annotations?.[CONTAINERD_NAME];
    let name: string;
    if (fullName) name = normalizeName(fullName, 'load');
    else if (o.name) name = normalizeName(refName && !o.name.includes(':') ? `${o.name}:${refName}` : o.name, 'load');
    else if (refName?.includes('/')) name = normalizeName(refName, 'load');
    else name = normalizeName(`localhost/${basename(label).replace(/\.tar$/, '').toLowerCase().replace(/[^a-z0-9._-]/g, '-') || 'image'}:${refName ?? 'latest'}`, 'load');
    let manifestDesc: Descriptor = entry;
    let index: { digest: string; body: Buffer } | undefined;
    if (isIndex(entry.mediaType)) {
      const ix = src.jsonBlob<ImageIndex>(entry.digest, 'index');
      const chosen = selectManifest(ix.value, want);
      if (!chosen) throw fail('load', label, `no image for platform ${formatPlatform(want)} in index ${entry.digest}`, 'ENOENT');
      index = { digest: entry.digest, body: ix.body };
      manifestDesc = chosen;
    }
    const m = src.jsonBlob<ImageManifest>(manifestDesc.digest, 'manifest');
    checkManifest(m.value, `manifest ${manifestDesc.digest}`);
    const cfg = src.jsonBlob<ImageConfig>(m.value.config.digest, 'image config');
    out.push(...(await importImage(store, m.body, m.value, cfg.body, (d) => src.blobPath(d.digest), [name], index, events, w)));
  }
  return out;
}

/** A layer file of a docker archive: its descriptor, gzip or plain by its magic bytes. */
function describeLayerFile(file: string): Descriptor {
  const fd = fs.openSync(file, 'r');
  const head = Buffer.alloc(2);
  fs.readSync(fd, head, 0, 2, 0);
  fs.closeSync(fd);
  const gz = head[0] === 0x1f && head[1] === 0x8b;
  const data = fs.readFileSync(file);
  return { mediaType: gz ? MT.ociLayerGzip : MT.ociLayer, digest: digestOf(data), size: data.length };
}

async function loadDockerArchive(store: Store, src: SourceDir, o: LoadOptions, w: WriterSession): Promise<ImageRecord[]> {
  const events = o.events ?? dropEvents;
  const entries = src.json<DockerArchiveEntry[]>('manifest.json');
  if (!Array.isArray(entries)) throw fail('load', 'manifest.json', 'is not a list');
  const out: ImageRecord[] = [];
  for (const e of entries) {
    if (typeof e.Config !== 'string' || !Array.isArray(e.Layers)) throw fail('load', 'manifest.json', 'an entry lacks Config or Layers');
    const configBody = fs.readFileSync(src.path(e.Config));
    const layerFiles = e.Layers.map((l) => src.path(l));
    const layers = layerFiles.map(describeLayerFile);
    const configDesc: Descriptor = { mediaType: MT.ociConfig, digest: digestOf(configBody), size: configBody.length };
    const manifest: ImageManifest = { schemaVersion: 2, mediaType: MT.ociManifest, config: configDesc, layers };
    const manifestBody = Buffer.from(JSON.stringify(manifest));
    const names = (e.RepoTags ?? []).map((n) => normalizeName(n, 'load'));
    if (names.length === 0) names.push(o.name ? normalizeName(o.name, 'load') : `localhost/${configDesc.digest.slice(7, 19)}:latest`);
    out.push(...(await importImage(store, manifestBody, manifest, configBody, (_d, i) => layerFiles[i]!, names, undefined, events, w)));
  }
  return out;
}

/**
 * Load images from an OCI layout directory, or from a tar archive of one or
 * of `docker save` (gzip or plain). Fails whole: nothing is kept on error.
 */
export async function loadImages(store: Store, input: string, o: LoadOptions = {}): Promise<ImageRecord[]> {
  const st = fs.statSync(input, { throwIfNoEntry: false });
  if (!st) throw fail('load', input, 'no such file or directory', 'ENOENT');
  let unpacked: string | undefined;
  try {
    let src: SourceDir;
    if (st.isDirectory()) {
      src = new SourceDir(fs.realpathSync(input));
    } else {
      unpacked = store.tmpPath('load');
      src = await unpackArchive(input, unpacked);
    }
    const has = (n: string) => fs.existsSync(join(src.dir, n));
    const kind = has('oci-layout') && has('index.json') ? 'oci' : has('manifest.json') ? 'docker' : undefined;
    if (!kind) throw fail('load', input, 'neither an OCI layout (oci-layout, index.json) nor a docker save archive (manifest.json)');
    const records = await asWriter(store, (w) => (kind === 'oci' ? loadOciLayout(store, src, input, o, w) : loadDockerArchive(store, src, o, w)));
    if (records.length === 0) throw fail('load', input, 'holds no image');
    return records;
  } finally {
    if (unpacked) fs.rmSync(unpacked, { recursive: true, force: true });
  }
}

/** Unpack an archive (gzip or plain tar) into dir, with the same path safety as a layer. */
async function unpackArchive(input: string, dir: string): Promise<SourceDir> {
  fs.mkdirSync(dir, { mode: 0o700 });
  const ex = layerExtractor(dir, 'flatten');
  const head = Buffer.alloc(2);
  const fd = fs.openSync(input, 'r');
  fs.readSync(fd, head, 0, 2, 0);
  fs.closeSync(fd);
  const stream = fs.createReadStream(input);
  const flow = head[0] === 0x1f && head[1] === 0x8b ? pipeline(stream, createGunzip(), ex.writable) : pipeline(stream, ex.writable);
  try {
    await Promise.all([flow, ex.done]);
  } catch (e) {
    throw fail('load', input, `not a readable tar archive: ${(e as Error).message}`, 'EBADMSG');
  }
  return new SourceDir(dir);
}

// ---------------------------------------------------------------- save

export interface SaveOptions {
  /** 'oci' writes an OCI layout directory; 'archive' a tar (OCI layout + docker manifest.json). Default: by the path (.tar = archive). */
  format?: 'oci' | 'archive';
}

interface SavedImage {
  record: ImageRecord;
  manifestBody: Buffer;
  manifest: ImageManifest;
  tag: string;
  familiar: string;
}

function collect(store: Store, queries: string[]): SavedImage[] {
  const out: SavedImage[] = [];
  const tags = new Set<string>();
  for (const q of queries) {
    const record = resolveImage(store, q, 'save');
    const manifestBody = store.readBlob(record.digest);
    const manifest = JSON.parse(manifestBody.toString('utf8')) as ImageManifest;
    for (const d of [manifest.config.digest, ...manifest.layers.map((l) => l.digest)]) {
      if (!store.hasBlob(d)) throw fail('save', q, `blob ${d} is not in the store; pull the image again`, 'ENOENT');
    }
    const ref = parseReference(record.name);
    const tag = ref.tag ?? 'latest';
    if (tags.has(tag)) throw fail('save', q, `two images with the tag "${tag}" cannot share one layout; save them separately`);
    tags.add(tag);
    out.push({ record, manifestBody, manifest, tag, familiar: familiarName(ref) });
  }
  return out;
}

function indexFor(images: SavedImage[]): ImageIndex {
  return {
    schemaVersion: 2,
    mediaType: MT.ociIndex,
    manifests: images.map((i) => ({
      mediaType: i.manifest.mediaType ?? MT.ociManifest,
      digest: i.record.digest,
      size: i.manifestBody.length,
      annotations: { [REF_NAME]: i.tag, [CONTAINERD_NAME]: i.record.name },
    })),
  };
}

function dockerManifest(images: SavedImage[]): DockerArchiveEntry[] {
  const blob = (d: string) => `blobs/${d.replace(':', '/')}`;
  return images.map((i) => ({
    Config: blob(i.manifest.config.digest),
    RepoTags: i.record.name.includes('@') ? [] : [i.familiar],
    Layers: i.manifest.layers.map((l) => blob(l.digest)),
  }));
}

function blobsOf(images: SavedImage[]): string[] {
  const set = new Set<string>();
  for (const i of images) for (const d of [i.record.digest, i.manifest.config.digest, ...i.manifest.layers.map((l) => l.digest)]) set.add(d);
  return [...set];
}

/** Write images as an OCI layout directory, or as a tar archive readable by docker load, skopeo and umoci. */
export async function saveImages(store: Store, queries: string[], output: string, o: SaveOptions = {}): Promise<{ format: 'oci' | 'archive'; blobs: number }> {
  const format = o.format ?? (output.endsWith('.tar') || output === '-' ? 'archive' : 'oci');
  const images = collect(store, queries);
  const blobs = blobsOf(images);
  const index = JSON.stringify(indexFor(images));
  return format === 'oci' ? saveLayout(store, blobs, index, output) : saveArchive(store, images, blobs, index, output);
}

async function saveLayout(store: Store, blobs: string[], index: string, output: string): Promise<{ format: 'oci'; blobs: number }> {
  let created = false;
  try {
    if (fs.readdirSync(output).length > 0) throw fail('save', output, 'directory is not empty');
  } catch (e) {
    if (errnoOf(e) !== 'ENOENT') throw e;
    fs.mkdirSync(output, { mode: 0o755 });
    created = true;
  }
  try {
    fs.mkdirSync(join(output, 'blobs', 'sha256'), { recursive: true });
    for (const d of blobs) {
      const { algorithm, hex } = parseDigest(d);
      fs.mkdirSync(join(output, 'blobs', algorithm), { recursive: true });
      fs.copyFileSync(store.blobPath(d), join(output, 'blobs', algorithm, hex));
    }
    fs.writeFileSync(join(output, 'oci-layout'), OCI_LAYOUT);
    fs.writeFileSync(join(output, 'index.json'), index);
  } catch (e) {
    if (created) fs.rmSync(output, { recursive: true, force: true });
    else for (const n of fs.readdirSync(output)) fs.rmSync(join(output, n), { recursive: true, force: true });
    throw e;
  }
  return { format: 'oci', blobs: blobs.length };
}

async function saveArchive(store: Store, images: SavedImage[], blobs: string[], index: string, output: string): Promise<{ format: 'archive'; blobs: number }> {
  const pack = tar.pack();
  const toStdout = output === '-';
  const tmp = toStdout ? undefined : `${output}.glassbox-${process.pid}.tmp`;
  const sink = toStdout ? process.stdout : fs.createWriteStream(tmp!, { flags: 'wx', mode: 0o644 });
  const done = pipeline(pack, sink);
  const mtime = new Date(0);
  const add = (name: string, body: string | Buffer) =>
    new Promise<void>((resolve, reject) => pack.entry({ name, mtime, mode: 0o644 }, body, (err) => (err ? reject(err) : resolve())));
  const addDir = (name: string) => new Promise<void>((resolve, reject) => pack.entry({ name, type: 'directory', mtime, mode: 0o755 }, (err) => (err ? reject(err) : resolve())));
  try {
    await addDir('blobs/');
    await addDir('blobs/sha256/');
    for (const d of blobs) {
      const p = store.blobPath(d);
      const size = fs.statSync(p).size;
      await new Promise<void>((resolve, reject) => {
        const entry = pack.entry({ name: `blobs/${d.replace(':', '/')}`, size, mtime, mode: 0o644 }, (err) => (err ? reject(err) : resolve()));
        fs.createReadStream(p).on('error', reject).pipe(entry as unknown as NodeJS.WritableStream);
      });
    }
    await add('oci-layout', OCI_LAYOUT);
    await add('index.json', index);
    await add('manifest.json', JSON.stringify(dockerManifest(images)));
    pack.finalize();
    await done;
    if (tmp) fs.renameSync(tmp, output);
  } catch (e) {
    pack.destroy();
    if (tmp) fs.rmSync(tmp, { force: true });
    throw e;
  }
  return { format: 'archive', blobs: blobs.length };
}
