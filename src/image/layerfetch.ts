// One streaming pass per layer: bytes arrive, are hashed (the blob digest),
// written to a temp blob, decompressed, hashed again (the diffID) and
// unpacked into a temp layer directory. Only when both digests match do the
// blob and the layer move into the store. Any failure removes both temps.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import * as zlib from 'node:zlib';
import { Decompress as ZstdDecompress } from 'fzstd';
import type { EventSink, LayerState } from '../events/schema.js';
import { dropEvents, hostEvent } from '../events/schema.js';
import { GlassboxError } from '../util/errors.js';
import { parseDigest } from './digest.js';
import { layerCompression, type Compression, type Descriptor } from './mediatypes.js';
import type { LayerRecord, Store } from './store.js';
import { layerExtractor } from './unpack.js';

/** Opens the layer blob's bytes: from a registry, or from a file of a loaded archive. */
export type BlobOpener = () => Promise<{ stream: Readable; length?: number }>;

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
}

/** A failure of the transfer itself: worth another attempt. */
class TransferError extends Error {}

/** Passes bytes through, hashing, counting, saving them, and watching for stalls. */
class Tap extends Transform {
  readonly hash;
  bytes = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    algorithm: string,
    private readonly fd: number | undefined,
    private readonly stallMs: number,
    private readonly onBytes: (n: number) => void,
  ) {
    super();
    this.hash = createHash(algorithm);
    this.arm();
  }

  private arm(): void {
    if (this.stallMs <= 0) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.destroy(new TransferError(`no data for ${Math.round(this.stallMs / 1000)} s after ${this.bytes} bytes`));
    }, this.stallMs);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.arm();
    this.hash.update(chunk);
    this.bytes += chunk.length;
    if (this.fd !== undefined) {
      fs.write(this.fd, chunk, 0, chunk.length, null, (err) => {
        if (err) return cb(err);
        this.onBytes(this.bytes);
        cb(null, chunk);
      });
    } else {
      this.onBytes(this.bytes);
      cb(null, chunk);
    }
  }

  override _flush(cb: TransformCallback): void {
    clearTimeout(this.timer);
    cb();
  }

  override _destroy(err: Error | null, cb: (error: Error | null) => void): void {
    clearTimeout(this.timer);
    cb(err);
  }
}

/** A pass-through that only hashes: the diffID of the uncompressed tar. */
class Hasher extends Transform {
  readonly hash = createHash('sha256');
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    cb(null, chunk);
  }
}

/** zstd as a Transform: Node's own where it has one (22.15+), else fzstd (pure JS). */
function zstdDecompressor(): Transform {
  const native = (zlib as unknown as { createZstdDecompress?: () => Transform }).createZstdDecompress;
  if (native) return native();
  let out: Transform;
  const z = new ZstdDecompress((data) => out.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength)));
  out = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      try {
        z.push(chunk);
        cb();
      } catch (e) {
        cb(e as Error);
      }
    },
    flush(cb) {
      try {
        z.push(new Uint8Array(0), true);
        cb();
      } catch (e) {
        cb(e as Error);
      }
    },
  });
  return out;
}

function decompressor(c: Compression): Transform | undefined {
  switch (c) {
    case 'gzip':
      return createGunzip();
    case 'zstd':
      return zstdDecompressor();
    case 'none':
      return undefined;
  }
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
    throw new GlassboxError(`layer ${desc.digest} has unknown media type "${desc.mediaType}"`, { op: o.op ?? 'pull', code: 'EPROTO' });
  }
  const { algorithm } = parseDigest(desc.digest, 'layer digest');
  parseDigest(diffId, 'diffID');
  const lock = await store.lock(`layer-${diffId}`);
  try {
    const haveBlob = store.hasBlob(desc.digest);
    const haveLayer = store.hasLayer(diffId);
    if (haveBlob && haveLayer) {
      report('exists', desc.size);
      return 'exists';
    }
    report('waiting', 0);
    // A blob we already have (loaded, or kept from a pull whose unpack failed) is read from disk.
    const source: BlobOpener = haveBlob
      ? async () => ({ stream: fs.createReadStream(store.blobPath(desc.digest)), length: fs.statSync(store.blobPath(desc.digest)).size })
      : open;
    const retries = o.retries ?? 3;
    for (let attempt = 0; ; attempt++) {
      try {
        if (o.signal?.aborted) throw interrupted(o.op ?? 'pull');
        await transfer(store, desc, diffId, compression, algorithm, source, {
          haveBlob,
          haveLayer,
          stallMs: o.stallTimeoutMs ?? 30_000,
          report,
          committed: o.committed,
          signal: o.signal,
          op: o.op ?? 'pull',
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
          throw new GlassboxError(`layer ${desc.digest}: cannot read the blob: ${e.message}`, { op: o.op ?? 'pull', code: 'EIO' });
        }
        throw e;
      }
    }
  } finally {
    lock.release();
  }
}

interface TransferOptions {
  haveBlob: boolean;
  haveLayer: boolean;
  stallMs: number;
  report: (state: LayerState, bytes: number) => void;
  committed?: { blobs: string[]; layers: string[] };
  signal?: AbortSignal;
  op: string;
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
  let fd: number | undefined;
  try {
    let src: { stream: Readable; length?: number };
    try {
      src = await open();
    } catch (e) {
      if (e instanceof GlassboxError) throw e;
      throw new TransferError((e as Error).message);
    }
    if (tmpBlob) fd = fs.openSync(tmpBlob, 'wx', 0o600);
    if (tmpLayer) fs.mkdirSync(join(tmpLayer, 'diff'), { recursive: true, mode: 0o755 });
    const tap = new Tap(algorithm, fd, t.stallMs, (n) => t.report('downloading', n));
    const onAbort = () => tap.destroy(interrupted(t.op));
    t.signal?.addEventListener('abort', onAbort, { once: true });
    const stages: NodeJS.ReadWriteStream[] = [];
    const unz = decompressor(compression);
    if (unz) stages.push(unz);
    const diffHash = new Hasher();
    stages.push(diffHash);
    let extracted: Promise<unknown> = Promise.resolve();
    let sink: NodeJS.WritableStream;
    if (tmpLayer) {
      const ex = layerExtractor(join(tmpLayer, 'diff'), 'overlay');
      sink = ex.writable;
      extracted = ex.done;
    } else {
      sink = new Transform({ transform: (_c, _e, cb) => cb() }).resume();
    }
    const flow = (pipeline as unknown as (...s: unknown[]) => Promise<void>)(src.stream, tap, ...stages, sink);
    // The body's own errors (reset, truncation, stall) are transfer errors;
    // what the extractor refuses, or a digest that does not match, is not.
    const results = await Promise.allSettled([flow, extracted]);
    t.signal?.removeEventListener('abort', onAbort);
    const unpackErr = results[1].status === 'rejected' ? (results[1].reason as unknown) : undefined;
    const flowErr = results[0].status === 'rejected' ? (results[0].reason as unknown) : undefined;
    if (t.signal?.aborted) throw interrupted(t.op);
    if (unpackErr instanceof GlassboxError) throw unpackErr;
    if (flowErr || unpackErr) {
      const e = (flowErr ?? unpackErr) as Error & { syscall?: string };
      if (e instanceof GlassboxError || e.syscall) throw e;
      throw new TransferError(e.message || String(e));
    }
    const unpackResult = (results[1] as PromiseFulfilledResult<unknown>).value as { stats: LayerRecord['stats']; samples: string[] } | undefined;
    if (src.length !== undefined && tap.bytes !== src.length) {
      throw new TransferError(`body ended after ${tap.bytes} of ${src.length} bytes`);
    }
    t.report('verifying', tap.bytes);
    const gotDigest = `${algorithm}:${tap.hash.digest('hex')}`;
    if (gotDigest !== desc.digest) {
      throw new GlassboxError(`layer ${desc.digest}: digest mismatch: downloaded content is ${gotDigest}`, { op: t.op, code: 'EBADMSG' });
    }
    if (desc.size > 0 && tap.bytes !== desc.size) {
      throw new GlassboxError(`layer ${desc.digest}: size mismatch: manifest says ${desc.size}, got ${tap.bytes}`, { op: t.op, code: 'EBADMSG' });
    }
    const gotDiff = `sha256:${diffHash.hash.digest('hex')}`;
    if (gotDiff !== diffId) {
      throw new GlassboxError(`layer ${desc.digest}: diffID mismatch: the config says ${diffId}, the uncompressed layer is ${gotDiff}`, { op: t.op, code: 'EBADMSG' });
    }
    if (fd !== undefined) {
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      fd = undefined;
    }
    if (tmpBlob) {
      store.commitBlob(tmpBlob, desc.digest);
      t.committed?.blobs.push(desc.digest);
    }
    if (tmpLayer && unpackResult) {
      store.commitLayer(tmpLayer, {
        diffId,
        blob: desc.digest,
        size: unpackResult.stats.bytes,
        stats: unpackResult.stats,
        samples: unpackResult.samples,
        unpacked: new Date().toISOString(),
      });
      t.committed?.layers.push(diffId);
    }
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
    if (tmpBlob) fs.rmSync(tmpBlob, { force: true });
    if (tmpLayer) fs.rmSync(tmpLayer, { recursive: true, force: true });
  }
}
