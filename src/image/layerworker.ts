// A layer worker thread: runs layer transfers (fetch, hash, save,
// decompress, unpack) off the main thread, two at once (limits.ts), so the
// layers of one image use every core while the main thread only draws
// progress. The pool (layerpool.ts) keeps one worker per core, two at most.
//
// A worker fetches its layer's blob itself, with a registry client made
// from the main thread's (same options, same token): the bytes never cross
// a thread boundary. Crossing cost a copy of every chunk, a message and an
// acknowledgement per chunk, and left every chunk to the garbage collectors
// of both threads (each isolate that touches the bytes holds tens of MB of
// dead buffers between collections; youngbuffers.ts says why, and bounds it
// here). Backpressure is then the stream's own: the socket is read only as
// fast as the disk takes what was read.
import * as fs from 'node:fs';
import type { Readable } from 'node:stream';
import { parentPort } from 'node:worker_threads';
import type { GlassboxEvent } from '../events/schema.js';
import { GlassboxError } from '../util/errors.js';
import type { LayerPipeJob, LayerPipeResult, PipeError } from './layerpipe.js';
import { describeFetchError, RegistryClient, type RegistryHandoff } from './registry.js';

// The layer pipeline's code (tar-stream, zlib, the addon) takes ~30 ms to
// load: the first request goes out meanwhile, its bytes waiting in the socket.
const layerPipe = import('./layerpipe.js');
layerPipe.catch(() => {}); // reported to the job that awaits it

/** Where a transfer's bytes come from: a file (a loaded archive, a kept blob) or a registry. */
export type WorkerSource = { kind: 'file'; file: string } | { kind: 'registry'; registry: RegistryHandoff; digest: string };

export type ToWorker = { type: 'start'; id: number; job: LayerPipeJob; source: WorkerSource } | { type: 'abort'; id: number };

export type FromWorker =
  | { type: 'progress'; id: number; bytes: number }
  /** An event of the worker's registry client (http, auth, retry). */
  | { type: 'event'; id: number; event: GlassboxEvent }
  | { type: 'done'; id: number; result: LayerPipeResult }
  | { type: 'error'; id: number; error: PipeError };

/** Why the registry gave no body: its own errors cross whole, the rest are worth a retry. */
function requestError(e: unknown): PipeError {
  if (!(e instanceof GlassboxError)) return { kind: 'transfer', message: describeFetchError(e) };
  return { kind: 'request', message: e.message, detail: e.detail, op: e.op, subject: e.subject, code: e.code };
}

/** A failure of the pipeline, as it crosses to the main thread (a pipeline that did not even load is a plain error). */
async function pipeError(e: unknown): Promise<PipeError> {
  try {
    return (await layerPipe).toPipeError(e);
  } catch (x) {
    return { kind: 'system', message: (x as Error).message ?? String(x) };
  }
}

const port = parentPort;
if (port) {
  const running = new Map<number, AbortController>();
  const post = (m: FromWorker) => port.postMessage(m);

  const start = async (id: number, job: LayerPipeJob, from: WorkerSource): Promise<void> => {
    const abort = new AbortController();
    running.set(id, abort);
    let last = 0;
    const onBytes = (n: number) => {
      const now = Date.now();
      if (now - last < 100) return;
      last = now;
      post({ type: 'progress', id, bytes: n });
    };
    let source: Readable | undefined;
    let opened = false;
    try {
      let declared: number | undefined;
      if (from.kind === 'file') {
        source = fs.createReadStream(from.file, { highWaterMark: 256 << 10 });
      } else {
        const client = RegistryClient.fromHandoff(from.registry, abort.signal, (event) => post({ type: 'event', id, event }));
        const res = await client.blob(from.digest);
        source = res.stream;
        declared = res.length;
      }
      opened = true;
      const { runLayerPipe } = await layerPipe;
      const result = await runLayerPipe(source, job, onBytes, abort.signal, from.kind === 'registry');
      post({ type: 'done', id, result: { ...result, declared } });
    } catch (e) {
      source?.destroy();
      post({ type: 'error', id, error: opened ? await pipeError(e) : requestError(e) });
    } finally {
      running.delete(id);
    }
  };

  port.on('message', (msg: ToWorker) => {
    switch (msg.type) {
      case 'start':
        void start(msg.id, msg.job, msg.source);
        break;
      case 'abort':
        running.get(msg.id)?.abort();
        break;
    }
  });
}
