// A layer worker: one thread per layer transfer, so hashing, gunzip and the
// many small file writes of one layer run beside those of the others on every
// core, while the main thread only moves network bytes and draws progress.
// It reads a transferred web stream (from the registry client) or a file.
import * as fs from 'node:fs';
import { Readable } from 'node:stream';
import type { ReadableStream } from 'node:stream/web';
import { parentPort } from 'node:worker_threads';
import { runLayerPipe, TransferError, type LayerPipeJob, type LayerPipeResult } from './layerpipe.js';

export type WorkerSource = { stream: ReadableStream } | { file: string };

export type ToWorker = { type: 'start'; job: LayerPipeJob; source: WorkerSource } | { type: 'abort' };

export type FromWorker =
  | { type: 'progress'; bytes: number }
  | { type: 'done'; result: LayerPipeResult }
  | { type: 'error'; kind: 'transfer' | 'refused' | 'system' | 'other'; message: string; code?: string; syscall?: string; path?: string; op?: string; subject?: string; detail?: string };

const port = parentPort;
if (port) {
  const ac = new AbortController();
  port.on('message', (msg: ToWorker) => {
    if (msg.type === 'abort') {
      ac.abort();
      return;
    }
    const source = 'stream' in msg.source ? Readable.fromWeb(msg.source.stream) : fs.createReadStream(msg.source.file, { highWaterMark: 1 << 20 });
    let last = 0;
    const onBytes = (n: number) => {
      const now = Date.now();
      if (now - last < 100) return;
      last = now;
      port.postMessage({ type: 'progress', bytes: n } satisfies FromWorker);
    };
    runLayerPipe(source, msg.job, onBytes, ac.signal).then(
      (result) => {
        port.postMessage({ type: 'done', result } satisfies FromWorker);
        port.close();
      },
      (e: Error & { code?: string; syscall?: string; path?: string; op?: string; subject?: string; detail?: string }) => {
        const kind = e instanceof TransferError ? 'transfer' : e.name === 'GlassboxError' ? 'refused' : e.syscall ? 'system' : 'other';
        port.postMessage({ type: 'error', kind, message: e.message, code: e.code, syscall: e.syscall, path: e.path, op: e.op, subject: e.subject, detail: e.detail } satisfies FromWorker);
        source.destroy();
        port.close();
      },
    );
  });
}
