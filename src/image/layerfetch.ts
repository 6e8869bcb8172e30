// One streaming pass per layer: bytes arrive, are hashed (the blob digest),
// written to a temp blob, decompressed, hashed again (the diffID) and
// unpacked into a temp layer directory. Only when both digests match do the
// blob and the layer move into the store. Any failure removes both temps.
import * as fs from 'node:fs';
import { join } from 'node:path';
import type { EventSink, LayerState } from '../events/schema.js';
import { dropEvents, hostEvent } from '../events/schema.js';
import { GlassboxError } from '../util/errors.js';
import { parseDigest } from './digest.js';
import type { LayerPipeJob, LayerPipeResult } from './layerpipe.js';
import { fromPipeError, TransferError } from './pipeerror.js';
import { LayerPool } from './layerpool.js';
import type { WorkerSource } from './layerworker.js';
import { layerCompression, type Compression, type Descriptor } from './mediatypes.js';
import type { RegistryHandoff } from './registry.js';
import type { Store } from './store.js';

/**
 * A layer blob's bytes: a file (a loaded archive, a kept blob), or a blob of
 * a registry, which the layer worker fetches itself.
 */
export type BlobSource = { file: string; length?: number } | { registry: RegistryHandoff; digest: string };
export type BlobOpener = () => Promise<BlobSource>;

export interface LayerFetchOptions {
  events?: EventSink;
  /** Abort a body that sends nothing for this long. */
  stallTimeoutMs?: number;
  /** Attempts after the first, for broken or stalled transfers. */
  retries?: number;
  /** Wait before retry n (1-based). */
  backoff?: (attempt: number, reason: string) => Promise<void>;
  /** The caller records what it committed, to roll back on a later failure. */
  committed?: { blobs: string[]; layers: string[] };
  /** Ctrl-C: stop the transfer, remove its temps, do not retry. */
  signal?: AbortSignal;
  /** The operation errors are named by: pull, load. */
  op?: string;
  /** The image errors are named by. */
  subject?: string;
  /** The worker threads to run in; without one, a pool lives for this call. */
  pool?: LayerPool;
}

/** Emits layer progress at most every 100 ms, and every state change. */
function progress(events: EventSink, desc: Descriptor, diffId: string) {
  let last = 0;
  return (state: LayerState, bytes: number) => {
    const now = Date.now();
    if (state === 'downloading' && now - last < 100) return;
    last = now;
    events(hostEvent({ what: 'layer', digest: desc.digest, diffId, size: desc.size, bytes, state }));
  };
}

/**
 * Make sure the store has both the blob and the unpacked layer. Safe against
 * concurrent pulls (the layer's lock) and against crashes (temp and rename).
 */
export async function ensureLayer(store: Store, desc: Descriptor, diffId: string, open: BlobOpener, o: LayerFetchOptions = {}): Promise<'exists' | 'fetched'> {
  const events = o.events ?? dropEvents;
  const report = progress(events, desc, diffId);
  const compression = layerCompression(desc.mediaType);
  if (!compression) {
    throw new GlassboxError(`layer ${desc.digest} has unknown media type "${desc.mediaType}"`, { op: o.op ?? 'pull', subject: o.subject, code: 'EPROTO' });
  }
  const { algorithm } = parseDigest(desc.digest, 'layer digest');
  parseDigest(diffId, 'diffID');
  const lock = await store.lock(`layer-${diffId}`);
  const ownPool = o.pool ? undefined : new LayerPool(1);
  const pool = (o.pool ?? ownPool)!;
  try {
    const haveBlob = store.hasBlob(desc.digest, desc.size);
    const haveLayer = store.hasLayer(diffId);
    if (haveBlob && haveLayer) {
      report('exists', desc.size);
      return 'exists';
    }
    report('waiting', 0);
    // A blob we already have (loaded, or kept from a pull whose unpack failed) is read from disk.
    const source: BlobOpener = haveBlob
      ? async () => ({ file: store.blobPath(desc.digest), length: fs.statSync(store.blobPath(desc.digest)).size })
      : open;
    const retries = o.retries ?? 3;
    for (let attempt = 0; ; attempt++) {
      try {
        if (o.signal?.aborted) throw interrupted(o.op ?? 'pull');
        await transfer(store, desc, diffId, compression, algorithm, source, {
          events,
          haveBlob,
          haveLayer,
          stallMs: o.stallTimeoutMs ?? 30_000,
          report,
          committed: o.committed,
          signal: o.signal,
          op: o.op ?? 'pull',
          subject: o.subject,
          pool,
        });
        report('done', desc.size);
        const rec = store.layerRecord(diffId);
        if (rec && !haveLayer) {
          events(hostEvent({ what: 'unpack', diffId, dir: store.layerDiff(diffId), stats: rec.stats, samples: rec.samples }));
        }
        return 'fetched';
      } catch (e) {
        if (e instanceof TransferError && attempt < retries) {
          report('retrying', 0);
          if (o.backoff) await o.backoff(attempt + 1, e.message);
          continue;
        }
        report('failed', 0);
        if (e instanceof TransferError) {
          throw new GlassboxError(`layer ${desc.digest}: cannot read the blob: ${e.message}`, { op: o.op ?? 'pull', subject: o.subject, code: 'EIO' });
        }
        throw e;
      }
    }
  } finally {
    lock.release();
    await ownPool?.close();
  }
}

interface TransferOptions {
  events: EventSink;
  haveBlob: boolean;
  haveLayer: boolean;
  stallMs: number;
  report: (state: LayerState, bytes: number) => void;
  committed?: { blobs: string[]; layers: string[] };
  signal?: AbortSignal;
  op: string;
  subject?: string;
  pool: LayerPool;
}

function interrupted(op: string): GlassboxError {
  return new GlassboxError('interrupted', { op, code: 'EINTR' });
}

async function transfer(
  store: Store,
  desc: Descriptor,
  diffId: string,
  compression: Compression,
  algorithm: string,
  open: BlobOpener,
  t: TransferOptions,
): Promise<void> {
  const tmpBlob = t.haveBlob ? undefined : store.tmpPath('blob');
  const tmpLayer = t.haveLayer ? undefined : store.tmpPath('layer');
  try {
    let src: BlobSource;
    try {
      src = await open();
    } catch (e) {
      if (e instanceof GlassboxError) throw e;
      throw new TransferError((e as Error).message);
    }
    if (t.signal?.aborted) throw interrupted(t.op);
    if (tmpLayer) fs.mkdirSync(join(tmpLayer, 'diff'), { recursive: true, mode: 0o755 });
    const job: LayerPipeJob = { compression, algorithm, blobFile: tmpBlob, layerDir: tmpLayer ? join(tmpLayer, 'diff') : undefined, stallMs: t.stallMs };
    let r: LayerPipeResult;
    try {
      const source: WorkerSource = 'file' in src ? { kind: 'file', file: src.file } : { kind: 'registry', registry: src.registry, digest: src.digest };
      r = await t.pool.run({
        job,
        source,
        layer: desc.digest,
        op: t.op,
        subject: t.subject,
        onBytes: (n) => t.report('downloading', n),
        events: t.events,
        signal: t.signal,
      });
    } catch (e) {
      if (t.signal?.aborted) throw interrupted(t.op);
      throw e;
    }
    if (t.signal?.aborted) throw interrupted(t.op);
    const declared = 'file' in src ? src.length : r.declared;
    if (declared !== undefined && r.bytes !== declared) {
      throw new TransferError(`body ended after ${r.bytes} of ${declared} bytes`);
    }
    t.report('verifying', r.bytes);
    if (r.digest !== desc.digest) {
      throw new GlassboxError(`layer ${desc.digest}: digest mismatch: the content is ${r.digest}`, { op: t.op, subject: t.subject, code: 'EBADMSG' });
    }
    if (desc.size > 0 && r.bytes !== desc.size) {
      throw new GlassboxError(`layer ${desc.digest}: size mismatch: manifest says ${desc.size}, got ${r.bytes}`, { op: t.op, subject: t.subject, code: 'EBADMSG' });
    }
    if (r.downstream) throw fromPipeError(r.downstream, desc.digest, t.op, t.subject);
    if (r.diffId !== diffId) {
      throw new GlassboxError(`layer ${desc.digest}: diffID mismatch: the config says ${diffId}, the uncompressed layer is ${r.diffId}`, { op: t.op, subject: t.subject, code: 'EBADMSG' });
    }
    if (tmpBlob) {
      store.commitBlob(tmpBlob, desc.digest);
      t.committed?.blobs.push(desc.digest);
    }
    if (tmpLayer && r.unpack) {
      store.commitLayer(tmpLayer, {
        diffId,
        blob: desc.digest,
        size: r.unpack.stats.bytes,
        stats: r.unpack.stats,
        samples: r.unpack.samples,
        unpacked: new Date().toISOString(),
      });
      t.committed?.layers.push(diffId);
    }
  } finally {
    if (tmpBlob) fs.rmSync(tmpBlob, { force: true });
    if (tmpLayer) fs.rmSync(tmpLayer, { recursive: true, force: true });
  }
}
