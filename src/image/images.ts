// What `glassbox images`, `rmi`, `prune` and `export` do, as a library.
import * as fs from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { GlassboxError, errnoOf } from '../util/errors.js';
import { decompressor } from './layerpipe.js';
import { layerCompression } from './mediatypes.js';
import { familiarName, parseReference } from './reference.js';
import type { ImageRecord, Store } from './store.js';
import { resolveImage, resolveImages } from './resolve.js';
import { emptyStats, layerExtractor, type UnpackResult } from './unpack.js';

export interface ImageSummary {
  record: ImageRecord;
  /** busybox, 127.0.0.1:5000/x */
  repository: string;
  tag: string;
  /** Docker's image ID: the config digest. */
  id: string;
  created?: string;
  /** Bytes of the unpacked layers. */
  size: number;
  layers: number;
}

export function listImages(store: Store): ImageSummary[] {
  const out: ImageSummary[] = [];
  for (const record of store.images()) {
    const ref = parseReference(record.name);
    const familiar = familiarName({ ...ref, tag: undefined, digest: undefined });
    let id = '';
    let created: string | undefined;
    let size = 0;
    let layers = 0;
    try {
      const m = store.manifest(record.digest);
      id = m.config.digest;
      const c = store.config(m);
      created = c.created;
      layers = c.rootfs.diff_ids.length;
      for (const d of c.rootfs.diff_ids) size += store.layerRecord(d)?.size ?? 0;
    } catch {
      // a damaged record still lists, without details, so rmi can remove it
    }
    out.push({ record, repository: familiar, tag: ref.tag ?? '<none>', id, created, size, layers });
  }
  return out;
}

export interface RemoveResult {
  untagged: string[];
  deleted: { blobs: string[]; layers: string[]; bytes: number };
}

/**
 * Untag, then delete what no image needs any more, as docker rmi does. An ID
 * that several names share needs force, as in docker.
 */
export async function removeImages(store: Store, queries: string[], force = false): Promise<RemoveResult> {
  const names: string[] = [];
  for (const q of queries) {
    const found = resolveImages(store, q);
    if (found.length === 0) throw new GlassboxError('no such image', { op: 'rmi', subject: q, code: 'ENOENT' });
    if (found.length > 1 && !force) {
      throw new GlassboxError(`image is referenced by ${found.map((r) => familiarName(parseReference(r.name))).join(', ')}: name one, or use --force`, { op: 'rmi', subject: q, code: 'EBUSY' });
    }
    names.push(...found.map((r) => r.name));
  }
  await store.updateImages((images) => {
    for (const n of names) delete images[n];
  });
  const deleted = await store.gc();
  return { untagged: names, deleted };
}

/** Remove everything no image references, and what crashed writers left. */
export function prune(store: Store): ReturnType<Store['gc']> {
  return store.gc();
}

/**
 * Write the image's flattened root filesystem to dir, as `umoci unpack` does:
 * each layer applied in order, whiteouts deleting. dir must not exist or be
 * empty; on failure what was written is removed.
 */
export async function exportImage(store: Store, query: string, dir: string): Promise<UnpackResult> {
  const rec = resolveImage(store, query, 'export');
  const manifest = store.manifest(rec.digest);
  let created = false;
  try {
    const entries = fs.readdirSync(dir);
    if (entries.length > 0) throw new GlassboxError('directory is not empty', { op: 'export', subject: dir, code: 'ENOTEMPTY' });
  } catch (e) {
    if (errnoOf(e) !== 'ENOENT') throw e;
    fs.mkdirSync(dir, { mode: 0o755 });
    created = true;
  }
  const root = fs.realpathSync(dir);
  const total: UnpackResult = { stats: emptyStats(), samples: [] };
  try {
    for (const layer of manifest.layers) {
      const compression = layerCompression(layer.mediaType);
      if (!compression) throw new GlassboxError(`layer ${layer.digest} has unknown media type "${layer.mediaType}"`, { op: 'export', code: 'EPROTO' });
      const ex = layerExtractor(root, 'flatten');
      const src = fs.createReadStream(store.blobPath(layer.digest));
      const unz = decompressor(compression);
      const flow = unz ? pipeline(src, unz, ex.writable) : pipeline(src, ex.writable);
      const [, r] = await Promise.all([flow, ex.done]);
      for (const k of Object.keys(r.stats) as (keyof typeof r.stats)[]) total.stats[k] += r.stats[k];
      total.samples.push(...r.samples);
    }
  } catch (e) {
    if (created) fs.rmSync(root, { recursive: true, force: true });
    else for (const n of fs.readdirSync(root)) fs.rmSync(`${root}/${n}`, { recursive: true, force: true });
    throw e;
  }
  return total;
}

