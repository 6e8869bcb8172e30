// The work of one layer transfer, in whichever thread runs it (a layer
// worker, see layerworker.ts): bytes in -> blob digest, temp blob file ->
// decompress -> diffID -> unpack. It computes; the caller verifies and commits.
// Its errors cross to the main thread as pipeerror.ts says.
import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import { Transform, type Readable, type TransformCallback, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { Decompress as ZstdDecompress } from 'fzstd';
import type { Compression } from './mediatypes.js';
import { describeFetchError } from './registry.js';
import { toPipeError, TransferError, type AnyError, type PipeError } from './pipeerror.js';
import { layerExtractor, type UnpackResult } from './unpack.js';
import { buffersAllocated } from './youngbuffers.js';

/**
 * What the body's first stop gathers before it saves and passes on. A socket
 * gives 64 kB a read, and every piece passed on costs a write to the blob, a
 * trip to libuv's threads and back for gunzip, and a turn of every stream
 * after it (diffID, tar parser, entry, file write); gathered into 512 kB, a
 * pull of the big fixture took 1.01 CPU-seconds instead of 1.18 and 0.69 s
 * instead of 0.80, for one more buffer of this size per transfer.
 */
export const TAP_BATCH = 512 * 1024;

/**
 * The body's first stop: hashes, counts and saves every byte, watches for
 * stalls, and feeds the decompress-and-unpack chain. If that chain fails, the
 * body is still read to its end, so the blob digest can be checked: a
 * corrupted byte is a digest mismatch, not a broken transfer.
 */
class Tap extends Writable {
  readonly hash;
  bytes = 0;
  downError: Error | undefined;
  /** Saving the blob failed: the host's refusal, not the source's. */
  saveError: Error | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Hashed and counted, not yet saved nor passed on. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(
    algorithm: string,
    private readonly fd: number | undefined,
    private readonly stallMs: number,
    private readonly onBytes: (total: number, chunk: number) => void,
    private readonly down: Writable | undefined,
  ) {
    super();
    this.hash = createHash(algorithm);
    this.arm();
  }

  private arm(): void {
    if (this.stallMs <= 0) return;
    // Every chunk re-arms it: refresh, not a new timer each time.
    if (this.timer) {
      this.timer.refresh();
      return;
    }
    this.timer = setTimeout(() => {
      this.destroy(new TransferError(`no data for ${this.stallMs} ms after ${this.bytes} bytes`));
    }, this.stallMs);
  }

  private downAlive(): boolean {
    return this.down !== undefined && !this.downError && !this.down.destroyed;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (error?: Error | null) => void): void {
    this.arm();
    buffersAllocated(chunk.length);
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    this.onBytes(this.bytes, chunk.length);
    if (this.pendingBytes < TAP_BATCH) return cb();
    this.flush(cb);
  }

  /** Save what was gathered and pass it on, as one buffer; cb once the chain takes more. */
  private flush(cb: (error?: Error | null) => void): void {
    if (this.pendingBytes === 0) return cb();
    const data = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    if (this.pending.length > 1) buffersAllocated(data.length);
    this.pending = [];
    this.pendingBytes = 0;
    try {
      if (this.fd !== undefined) {
        let off = 0;
        while (off < data.length) off += fs.writeSync(this.fd, data, off);
      }
    } catch (e) {
      this.saveError = e as Error;
      return cb(e as Error);
    }
    if (!this.downAlive() || this.down!.write(data)) return cb();
    const down = this.down!;
    const go = () => {
      down.off('drain', go);
      down.off('close', go);
      cb();
    };
    down.on('drain', go);
    down.on('close', go);
  }

  override _final(cb: (error?: Error | null) => void): void {
    clearTimeout(this.timer);
    this.flush((e) => {
      if (e) return cb(e);
      if (this.downAlive()) this.down!.end();
      cb();
    });
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
    // The decompressor's output: new buffers too.
    buffersAllocated(chunk.length);
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

/**
 * Large output buffers: fewer callbacks and allocations per megabyte, the
 * main cost of gunzip in Node (42 MB of a layer: 83 ms of CPU at 128 kB,
 * 49 ms at 512 kB, no better above). A job holds about one of them.
 */
const ZLIB_CHUNK = 512 * 1024;

export function decompressor(c: Compression): Transform | undefined {
  switch (c) {
    case 'gzip':
      return zlib.createGunzip({ chunkSize: ZLIB_CHUNK });
    case 'zstd':
      return zstdDecompressor();
    case 'none':
      return undefined;
  }
}

export interface LayerPipeJob {
  compression: Compression;
  /** Digest algorithm of the blob. */
  algorithm: string;
  /** Where to save the blob's bytes; none when the store has it already. */
  blobFile?: string;
  /** Where to unpack; none when the store has the layer already. */
  layerDir?: string;
  stallMs: number;
}

export interface LayerPipeResult {
  /** Body bytes read, all of them. */
  bytes: number;
  /** Digest of the whole body. */
  digest: string;
  /** diffID of the uncompressed tar, when it could be read whole. */
  diffId?: string;
  unpack?: UnpackResult;
  /** Why decompressing or unpacking failed, the body itself being whole. */
  downstream?: PipeError;
  /** The length the source announced (Content-Length), when it did. */
  declared?: number;
}

/**
 * Run one transfer. Throws TransferError for what the source did (reset,
 * truncation, stall: worth a retry; from a file, only truncation and
 * stalls) and system errors for what the host refused while saving the blob. Everything after that is reported in the
 * result, next to the digest, for the caller to judge in that order.
 */
export async function runLayerPipe(
  source: Readable,
  job: LayerPipeJob,
  onBytes: (total: number, chunk: number) => void,
  signal?: AbortSignal,
  network = false,
): Promise<LayerPipeResult> {
  const fd = job.blobFile ? fs.openSync(job.blobFile, 'wx', 0o600) : undefined;
  try {
    const stages: NodeJS.ReadWriteStream[] = [];
    const unz = decompressor(job.compression);
    if (unz) stages.push(unz);
    const diffHash = new Hasher();
    stages.push(diffHash);
    let extracted: Promise<UnpackResult | undefined> = Promise.resolve(undefined);
    let sink: NodeJS.WritableStream;
    if (job.layerDir) {
      const ex = layerExtractor(job.layerDir, 'overlay');
      sink = ex.writable;
      extracted = ex.done;
    } else {
      sink = new Writable({ write: (_c, _e, cb) => cb() });
    }
    const downFlow = (pipeline as unknown as (...s: unknown[]) => Promise<void>)(...stages, sink);
    // zlib can report a bad stream twice (a queued write, then the flush);
    // pipeline settles on the first, and we read every verdict from downFlow.
    for (const st of stages) (st as unknown as Writable).on('error', () => {});
    extracted.catch(() => {});
    const tap = new Tap(job.algorithm, fd, job.stallMs, onBytes, stages[0] as unknown as Writable);
    downFlow.catch((e: Error) => (tap.downError ??= e));
    const onAbort = () => tap.destroy(new TransferError('interrupted'));
    if (signal?.aborted) onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    let srcErr: AnyError | undefined;
    try {
      await pipeline(source, tap);
    } catch (e) {
      srcErr = e as AnyError;
      // The chain after the body will never see its end: tear it down.
      (stages[0] as unknown as Writable).destroy(new TransferError('body failed'));
    }
    const [downR, unpackR] = await Promise.allSettled([downFlow, extracted]);
    signal?.removeEventListener('abort', onAbort);
    if (srcErr) {
      if (srcErr instanceof TransferError || srcErr === tap.saveError) throw srcErr;
      // A connection that breaks (a reset is a system error too) is worth another attempt; a file that cannot be read is not.
      if (network) throw new TransferError(`body broke after ${tap.bytes} bytes: ${describeFetchError(srcErr)}`);
      if (srcErr.syscall) throw srcErr;
      throw new TransferError(srcErr.message || String(srcErr));
    }
    // The body is whole. What failed after it: the extractor's own verdict
    // (a refused entry, a host error) first, then the decompressor's.
    const unpackErr = unpackR.status === 'rejected' ? (unpackR.reason as AnyError) : undefined;
    const downErr = downR.status === 'rejected' ? (downR.reason as AnyError) : undefined;
    const failure = unpackErr && (unpackErr.name === 'GlassboxError' || unpackErr.syscall) ? unpackErr : (downErr ?? unpackErr);
    return {
      bytes: tap.bytes,
      digest: `${job.algorithm}:${tap.hash.digest('hex')}`,
      diffId: failure ? undefined : `sha256:${diffHash.hash.digest('hex')}`,
      unpack: unpackR.status === 'fulfilled' ? unpackR.value : undefined,
      downstream: failure ? toPipeError(failure) : undefined,
    };
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

export { fromPipeError, toPipeError, TransferError, type PipeError } from './pipeerror.js';
