// The work of one layer transfer, in whichever thread runs it (a layer
// worker, see layerworker.ts): bytes in -> blob digest, temp blob file ->
// decompress -> diffID -> unpack. It computes; the caller verifies and commits.
import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import { Transform, type Readable, type TransformCallback, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { Decompress as ZstdDecompress } from 'fzstd';
import type { Compression } from './mediatypes.js';
import { layerExtractor, type UnpackResult } from './unpack.js';

/** A failure of the transfer itself (reset, truncation, stall): worth another attempt. */
export class TransferError extends Error {
  override name = 'TransferError';
}

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
    super({ highWaterMark: 1 << 20 });
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
    try {
      if (this.fd !== undefined) {
        let off = 0;
        while (off < chunk.length) off += fs.writeSync(this.fd, chunk, off);
      }
    } catch (e) {
      return cb(e as Error);
    }
    this.onBytes(this.bytes);
    cb(null, chunk);
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

/** Large output chunks: fewer callbacks per megabyte, the main cost of gunzip in Node. */
const ZLIB_CHUNK = 128 * 1024;

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
  bytes: number;
  digest: string;
  diffId: string;
  unpack?: UnpackResult;
}

/**
 * Run one transfer. Throws TransferError for what the source did (worth a
 * retry), the extractor's GlassboxError for what the layer says, and system
 * errors (with .syscall) for what the host refused.
 */
export async function runLayerPipe(source: Readable, job: LayerPipeJob, onBytes: (n: number) => void, signal?: AbortSignal): Promise<LayerPipeResult> {
  const fd = job.blobFile ? fs.openSync(job.blobFile, 'wx', 0o600) : undefined;
  try {
    const tap = new Tap(job.algorithm, fd, job.stallMs, onBytes);
    const onAbort = () => tap.destroy(new Error('interrupted'));
    signal?.addEventListener('abort', onAbort, { once: true });
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
    const flow = (pipeline as unknown as (...s: unknown[]) => Promise<void>)(source, tap, ...stages, sink);
    const [flowR, unpackR] = await Promise.allSettled([flow, extracted]);
    signal?.removeEventListener('abort', onAbort);
    const unpackErr = unpackR.status === 'rejected' ? (unpackR.reason as Error & { syscall?: string }) : undefined;
    const flowErr = flowR.status === 'rejected' ? (flowR.reason as Error & { syscall?: string }) : undefined;
    // What the extractor refused, or the host refused it, is the real cause
    // even when the pipeline reports the stream it tore down.
    if (unpackErr && (unpackErr.name === 'GlassboxError' || unpackErr.syscall)) throw unpackErr;
    const e = flowErr ?? unpackErr;
    if (e) {
      if (e.name === 'GlassboxError' || e.syscall || e instanceof TransferError) throw e;
      throw new TransferError(e.message || String(e));
    }
    if (fd !== undefined) fs.fsyncSync(fd);
    return {
      bytes: tap.bytes,
      digest: `${job.algorithm}:${tap.hash.digest('hex')}`,
      diffId: `sha256:${diffHash.hash.digest('hex')}`,
      unpack: unpackR.status === 'fulfilled' ? unpackR.value : undefined,
    };
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
