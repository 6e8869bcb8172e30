// The content-addressed store (DESIGN.md section 4):
//   blobs/sha256/<hex>            manifests, indexes, configs, compressed layers
//   layers/sha256/<hex>/diff      a layer unpacked once, by diffID: an overlay lowerdir
//   layers/sha256/<hex>/layer.json what unpacking it wrote
//   images.json                   name -> manifest digest
//   tmp/                          everything in flight; renamed into place when whole
//   locks/                        flock files
// Whatever is in blobs/ or layers/ is whole and verified; a crash leaves at
// most files in tmp/, which the next store user removes.
import * as fs from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { GlassboxError, errnoOf } from '../util/errors.js';
import { lockFile, withLock, type Lock } from '../util/lock.js';
import { digestOf, parseDigest } from './digest.js';
import type { ImageConfig, ImageIndex, ImageManifest } from './mediatypes.js';
import type { UnpackStats } from '../events/schema.js';

export const DEFAULT_ROOT = '/var/lib/glassbox';

export interface ImageRecord {
  /** Normalized reference: docker.io/library/busybox:latest, or name@digest. */
  name: string;
  /** The platform manifest this name runs. */
  digest: string;
  /** The index it was chosen from, when there was one. */
  index?: string;
  platform: string;
  /** When this name was last pointed here. */
  tagged: string;
}

export interface LayerRecord {
  diffId: string;
  /** The blob it came from, when it came from one. */
  blob?: string;
  size: number;
  stats: UnpackStats;
  samples: string[];
  unpacked: string;
}

interface ImagesFile {
  version: 1;
  images: Record<string, ImageRecord>;
}

export function defaultRoot(): string {
  return process.env.GLASSBOX_ROOT || DEFAULT_ROOT;
}

export class Store {
  private constructor(readonly root: string) {}

  /** Open (and create) the store at root; removes what dead processes left in tmp/. */
  static async open(root = defaultRoot()): Promise<Store> {
    for (const d of ['blobs/sha256', 'blobs/sha512', 'layers/sha256', 'tmp', 'locks']) {
      fs.mkdirSync(join(root, d), { recursive: true, mode: 0o700 });
    }
    const store = new Store(fs.realpathSync(root));
    store.cleanTmp();
    return store;
  }

  blobPath(digest: string): string {
    const { algorithm, hex } = parseDigest(digest);
    return join(this.root, 'blobs', algorithm, hex);
  }

  layerPath(diffId: string): string {
    const { algorithm, hex } = parseDigest(diffId, 'diffID');
    if (algorithm !== 'sha256') throw new GlassboxError(`diffID ${diffId}: only sha256 diffIDs are supported`, { op: 'store' });
    return join(this.root, 'layers', algorithm, hex);
  }

  /** The directory overlayfs mounts as a lowerdir. */
  layerDiff(diffId: string): string {
    return join(this.layerPath(diffId), 'diff');
  }

  /**
   * Whether the blob is stored, and of the size expected when one is given.
   * Blobs are not fsynced (an fsync per layer stalls every other file
   * creation on ext4 behind the journal, doubling pull time); a process that
   * dies leaves no torn blob, since each is renamed into place whole, and a
   * blob cut short by a power loss fails this size check and is fetched again.
   */
  hasBlob(digest: string, size?: number): boolean {
    const st = fs.statSync(this.blobPath(digest), { throwIfNoEntry: false });
    return st !== undefined && (size === undefined || size <= 0 || st.size === size);
  }

  hasLayer(diffId: string): boolean {
    return fs.existsSync(join(this.layerPath(diffId), 'layer.json'));
  }

  layerRecord(diffId: string): LayerRecord | undefined {
    try {
      return JSON.parse(fs.readFileSync(join(this.layerPath(diffId), 'layer.json'), 'utf8')) as LayerRecord;
    } catch (e) {
      if (errnoOf(e) === 'ENOENT') return undefined;
      throw e;
    }
  }

  /** A fresh path in tmp/, named for this process so a later cleaner knows whose it was. */
  tmpPath(label: string): string {
    return join(this.root, 'tmp', `${process.pid}-${randomBytes(6).toString('hex')}-${label.replace(/[^\w.-]/g, '_').slice(0, 40)}`);
  }

  /** Remove tmp/ entries whose process is gone. */
  cleanTmp(): void {
    let names: string[];
    try {
      names = fs.readdirSync(join(this.root, 'tmp'));
    } catch {
      return;
    }
    for (const n of names) {
      const pid = Number(n.split('-')[0]);
      if (pid > 0 && pid !== process.pid && processAlive(pid)) continue;
      if (pid === process.pid) continue;
      fs.rmSync(join(this.root, 'tmp', n), { recursive: true, force: true });
    }
  }

  lock(name: string, exclusive = true): Promise<Lock> {
    return lockFile(join(this.root, 'locks', `${name.replace(/[^\w.-]/g, '_')}.lock`), exclusive);
  }

  /**
   * Held shared by every writer (pull, load) for its whole run, and
   * exclusively by gc: gc never removes a blob a writer is about to tag.
   */
  writerLock(): Promise<Lock> {
    return this.lock('gc', false);
  }

  /** Write a blob from memory after checking its digest. */
  writeBlob(digest: string, data: Buffer): void {
    const { algorithm } = parseDigest(digest);
    const got = digestOf(data, algorithm);
    if (got !== digest) throw new GlassboxError(`blob ${digest}: digest mismatch: content is ${got}`, { op: 'store', code: 'EBADMSG' });
    if (this.hasBlob(digest)) return;
    const tmp = this.tmpPath('blob');
    fs.writeFileSync(tmp, data, { mode: 0o644 });
    fs.renameSync(tmp, this.blobPath(digest));
  }

  /** Move a verified temp file into place as a blob. */
  commitBlob(tmp: string, digest: string): void {
    fs.chmodSync(tmp, 0o644);
    fs.renameSync(tmp, this.blobPath(digest));
  }

  /** Move a verified, unpacked temp directory into place as a layer. */
  commitLayer(tmpDir: string, rec: LayerRecord): void {
    fs.writeFileSync(join(tmpDir, 'layer.json'), JSON.stringify(rec, null, 2) + '\n');
    const dest = this.layerPath(rec.diffId);
    if (fs.existsSync(dest)) fs.rmSync(dest, { recursive: true, force: true }); // an incomplete one, without layer.json
    fs.renameSync(tmpDir, dest);
  }

  readBlob(digest: string): Buffer {
    let data: Buffer;
    try {
      data = fs.readFileSync(this.blobPath(digest));
    } catch (e) {
      if (errnoOf(e) === 'ENOENT') throw new GlassboxError(`blob ${digest} is not in the store`, { op: 'store', code: 'ENOENT' });
      throw e;
    }
    const got = digestOf(data, parseDigest(digest).algorithm);
    if (got !== digest) throw new GlassboxError(`blob ${digest} is corrupt in the store (content is ${got}); run glassbox rmi and pull again`, { op: 'store', code: 'EBADMSG' });
    return data;
  }

  readJson<T>(digest: string): T {
    return JSON.parse(this.readBlob(digest).toString('utf8')) as T;
  }

  manifest(digest: string): ImageManifest {
    return this.readJson<ImageManifest>(digest);
  }

  config(manifest: ImageManifest): ImageConfig {
    return this.readJson<ImageConfig>(manifest.config.digest);
  }

  /**
   * The cgroup parent of this store's containers: glassbox for the default
   * store, glassbox-<hash of the root> for any other, so that one store's gc
   * never takes another store's containers for leftovers.
   */
  get cgroupParent(): string {
    return this.root === DEFAULT_ROOT ? 'glassbox' : `glassbox-${createHash('sha256').update(this.root).digest('hex').slice(0, 8)}`;
  }

  /** Container directories, whatever their state. */
  containerIds(): string[] {
    try {
      return fs.readdirSync(join(this.root, 'containers'));
    } catch (e) {
      if (errnoOf(e) === 'ENOENT') return [];
      throw e;
    }
  }

  // ---- image records ----

  private imagesPath(): string {
    return join(this.root, 'images.json');
  }

  private readImages(): ImagesFile {
    try {
      return JSON.parse(fs.readFileSync(this.imagesPath(), 'utf8')) as ImagesFile;
    } catch (e) {
      if (errnoOf(e) === 'ENOENT') return { version: 1, images: {} };
      throw e;
    }
  }

  private writeImages(f: ImagesFile): void {
    const tmp = this.tmpPath('images.json');
    fs.writeFileSync(tmp, JSON.stringify(f, null, 2) + '\n', { mode: 0o600 });
    fs.renameSync(tmp, this.imagesPath());
  }

  /** Read-modify-write images.json under its lock. */
  async updateImages<T>(fn: (images: Record<string, ImageRecord>) => T): Promise<T> {
    return withLock(join(this.root, 'locks', 'images.lock'), async () => {
      const f = this.readImages();
      const out = fn(f.images);
      this.writeImages(f);
      return out;
    });
  }

  images(): ImageRecord[] {
    // Plain code-point order: localeCompare would load ICU's collation, a cost at every start.
    return Object.values(this.readImages().images).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async tag(rec: ImageRecord): Promise<void> {
    await this.updateImages((images) => {
      images[rec.name] = rec;
    });
  }

  /** Every blob and layer some image or container needs. */
  references(): { blobs: Set<string>; layers: Set<string> } {
    const blobs = new Set<string>();
    const layers = new Set<string>();
    // A container keeps the layers it is mounted on, even when its image is removed.
    for (const id of this.containerIds()) {
      try {
        const c = JSON.parse(fs.readFileSync(join(this.root, 'containers', id, 'image.json'), 'utf8')) as { diffIds?: string[] };
        for (const d of c.diffIds ?? []) layers.add(d);
      } catch {
        // a container directory being created or removed: its layers are its image's
      }
    }
    for (const img of this.images()) {
      blobs.add(img.digest);
      if (img.index) {
        blobs.add(img.index);
        try {
          for (const m of this.readJson<ImageIndex>(img.index).manifests) if (this.hasBlob(m.digest)) blobs.add(m.digest);
        } catch {
          // an index we cannot read keeps only itself
        }
      }
      let manifest: ImageManifest;
      try {
        manifest = this.manifest(img.digest);
      } catch {
        continue;
      }
      blobs.add(manifest.config.digest);
      for (const l of manifest.layers) blobs.add(l.digest);
      try {
        for (const d of this.config(manifest).rootfs.diff_ids) layers.add(d);
      } catch {
        // a missing config keeps the layers it would have named unknown
      }
    }
    return { blobs, layers };
  }

  /**
   * Undo what a failed writer committed: its blobs and layers that no image
   * references once every other writer in flight has finished.
   */
  async rollback(committed: { blobs: string[]; layers: string[] }): Promise<void> {
    if (committed.blobs.length === 0 && committed.layers.length === 0) return;
    const gcLock = await this.lock('gc');
    const lock = await lockFile(join(this.root, 'locks', 'images.lock'));
    try {
      const refs = this.references();
      for (const d of committed.blobs) if (!refs.blobs.has(d)) fs.rmSync(this.blobPath(d), { force: true });
      for (const d of committed.layers) if (!refs.layers.has(d)) fs.rmSync(this.layerPath(d), { recursive: true, force: true });
    } finally {
      lock.release();
      gcLock.release();
    }
  }

  /**
   * Remove every blob and layer no image references, and tmp/ leftovers.
   * Waits for writers in flight (see writerLock) and holds the images lock.
   */
  async gc(): Promise<{ blobs: string[]; layers: string[]; bytes: number }> {
    const removed = { blobs: [] as string[], layers: [] as string[], bytes: 0 };
    const gcLock = await this.lock('gc');
    const lock = await lockFile(join(this.root, 'locks', 'images.lock'));
    try {
      this.cleanTmp();
      const refs = this.references();
      for (const algorithm of ['sha256', 'sha512']) {
        for (const hex of fs.readdirSync(join(this.root, 'blobs', algorithm))) {
          const d = `${algorithm}:${hex}`;
          if (refs.blobs.has(d)) continue;
          removed.bytes += sizeOf(this.blobPath(d));
          fs.rmSync(this.blobPath(d), { force: true });
          removed.blobs.push(d);
        }
      }
      for (const hex of fs.readdirSync(join(this.root, 'layers', 'sha256'))) {
        const d = `sha256:${hex}`;
        if (refs.layers.has(d)) continue;
        removed.bytes += this.layerRecord(d)?.size ?? 0;
        fs.rmSync(this.layerPath(d), { recursive: true, force: true });
        // No writer runs while gc holds its lock, so no one waits on this file.
        fs.rmSync(join(this.root, 'locks', `layer-${d.replace(':', '_')}.lock`), { force: true });
        removed.layers.push(d);
      }
    } finally {
      lock.release();
      gcLock.release();
    }
    return removed;
  }
}

function sizeOf(path: string): number {
  try {
    return fs.statSync(path).size;
  } catch {
    return 0;
  }
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errnoOf(e) === 'EPERM';
  }
}
