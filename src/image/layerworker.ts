// A layer worker thread: runs layer transfers (hash, save, decompress,
// unpack) off the main thread, several at once, so the layers of one image
// use every core while the main thread only moves network bytes and draws
// progress. The pool (layerpool.ts) keeps one worker per core.
//
// Network bytes arrive as 'chunk' messages from the main thread, which keeps
// at most IN_FLIGHT bytes per job unacknowledged: memory stays bounded however
// large the layer, and a slow disk slows the download instead of filling
// memory. A file source (a loaded archive, a blob already stored) is read here.
import * as fs from 'node:fs';
import { Readable } from 'node:stream';
import { parentPort } from 'node:worker_threads';
import { runLayerPipe, toPipeError, TransferError, type LayerPipeJob, type LayerPipeResult, type PipeError } from './layerpipe.js';

/** Bytes the main thread may send for one job before the worker acknowledges them. */
export const IN_FLIGHT = 2 << 20;

export type WorkerSource = { kind: 'messages' } | { kind: 'file'; file: string };

export type ToWorker =
  | { type: 'start'; id: number; job: LayerPipeJob; source: WorkerSource }
  | { type: 'chunk'; id: number; data: Uint8Array }
  | { type: 'end'; id: number }
  /** The main thread's read failed: a transfer error, worth a retry. */
  | { type: 'fail'; id: number; message: string }
  | { type: 'abort'; id: number };

export type FromWorker =
  | { type: 'ack'; id: number; bytes: number }
  | { type: 'progress'; id: number; bytes: number }
  | { type: 'done'; id: number; result: LayerPipeResult }
  | { type: 'error'; id: number; error: PipeError };

interface Running {
  source: Readable;
  abort: AbortController;
}

const port = parentPort;
if (port) {
  const running = new Map<number, Running>();
  const post = (m: FromWorker) => port.postMessage(m);

  const start = (id: number, job: LayerPipeJob, from: WorkerSource) => {
    const fromMessages = from.kind === 'messages';
    const source = fromMessages ? new Readable({ read() {} }) : fs.createReadStream(from.file, { highWaterMark: 256 << 10 });
    const abort = new AbortController();
    running.set(id, { source, abort });
    let last = 0;
    const onBytes = (n: number, chunk: number) => {
      if (fromMessages) post({ type: 'ack', id, bytes: chunk });
      const now = Date.now();
      if (now - last < 100) return;
      last = now;
      post({ type: 'progress', id, bytes: n });
    };
    runLayerPipe(source, job, onBytes, abort.signal).then(
      (result) => {
        running.delete(id);
        post({ type: 'done', id, result });
      },
      (e: unknown) => {
        running.delete(id);
        source.destroy();
        post({ type: 'error', id, error: toPipeError(e) });
      },
    );
  };

  port.on('message', (msg: ToWorker) => {
    if (msg.type === 'start') return start(msg.id, msg.job, msg.source);
    const r = running.get(msg.id);
    if (!r) return;
    switch (msg.type) {
      case 'chunk':
        r.source.push(Buffer.from(msg.data.buffer, msg.data.byteOffset, msg.data.byteLength));
        break;
      case 'end':
        r.source.push(null);
        break;
      case 'fail':
        r.source.destroy(new TransferError(msg.message));
        break;
      case 'abort':
        r.abort.abort();
        break;
    }
  });
}
