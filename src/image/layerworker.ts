// A layer worker: one thread per layer transfer, so hashing, gunzip and the
// many small file writes of one layer run beside those of the others on every
// core, while the main thread only moves network bytes and draws progress.
//
// Network bytes arrive as 'chunk' messages from the main thread, which keeps
// at most IN_FLIGHT bytes unacknowledged: memory stays bounded however large
// the layer, and a slow disk slows the download instead of filling memory.
// A file source (a loaded archive, a blob already stored) is read here.
import * as fs from 'node:fs';
import { Readable } from 'node:stream';
import { parentPort } from 'node:worker_threads';
import { runLayerPipe, toPipeError, TransferError, type LayerPipeJob, type LayerPipeResult, type PipeError } from './layerpipe.js';

/** Bytes the main thread may send before the worker acknowledges them. */
export const IN_FLIGHT = 2 << 20;

export type WorkerSource = { kind: 'messages' } | { kind: 'file'; file: string };

export type ToWorker =
  | { type: 'start'; job: LayerPipeJob; source: WorkerSource }
  | { type: 'chunk'; data: Uint8Array }
  | { type: 'end' }
  /** The main thread's read failed: a transfer error, worth a retry. */
  | { type: 'fail'; message: string }
  | { type: 'abort' };

export type FromWorker =
  | { type: 'ack'; bytes: number }
  | { type: 'progress'; bytes: number }
  | { type: 'done'; result: LayerPipeResult }
  | { type: 'error'; error: PipeError };

const port = parentPort;
if (port) {
  const ac = new AbortController();
  let source: Readable | undefined;
  port.on('message', (msg: ToWorker) => {
    switch (msg.type) {
      case 'abort':
        ac.abort();
        return;
      case 'chunk':
        source?.push(Buffer.from(msg.data.buffer, msg.data.byteOffset, msg.data.byteLength));
        return;
      case 'end':
        source?.push(null);
        return;
      case 'fail':
        source?.destroy(new TransferError(msg.message));
        return;
      case 'start':
        break;
    }
    source = msg.source.kind === 'file' ? fs.createReadStream(msg.source.file, { highWaterMark: 256 << 10 }) : new Readable({ read() {} });
    const fromMessages = msg.source.kind === 'messages';
    let last = 0;
    const onBytes = (n: number, chunk: number) => {
      if (fromMessages) port.postMessage({ type: 'ack', bytes: chunk } satisfies FromWorker);
      const now = Date.now();
      if (now - last < 100) return;
      last = now;
      port.postMessage({ type: 'progress', bytes: n } satisfies FromWorker);
    };
    const src = source;
    runLayerPipe(src, msg.job, onBytes, ac.signal).then(
      (result) => {
        port.postMessage({ type: 'done', result } satisfies FromWorker);
        port.close();
      },
      (e: unknown) => {
        port.postMessage({ type: 'error', error: toPipeError(e) } satisfies FromWorker);
        src.destroy();
        port.close();
      },
    );
  });
}
