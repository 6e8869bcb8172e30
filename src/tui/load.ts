// Loading a trace file for replay: the events as LoadBatches (syscalls as the
// stream's columns, the rest as they are), read and turned into lines on a
// worker thread (src/tui/load-worker.ts) so the TUI's thread only files them
// away; on this thread if no worker can start.
import { Worker } from 'node:worker_threads';
import type { GlassboxEvent } from '../events/schema.js';
import { readTraceInto } from '../trace/read.js';
import { ColumnsBuilder, type SyscallColumns } from './lines.js';

/** The events of a piece of the file: `count` of them in order, the syscalls as columns, the others as they are with their place among the `count`. */
export interface LoadBatch {
  kind: 'batch';
  count: number;
  syscalls: SyscallColumns;
  others: [number, GlassboxEvent][];
}

/** What the worker posts: batches in file order, then one end or one error. */
export type LoadMessage = LoadBatch | { kind: 'end' } | { kind: 'error'; message: string };

/**
 * Bytes of batches the worker may have sent that the TUI's thread has not
 * filed yet. While the first screen draws (most of a second) the worker
 * reads on; unbounded, on a busy machine, the whole trace would wait in
 * messages beside its copy in the log.
 */
export const IN_FLIGHT_BYTES = 48 * 1024 * 1024;

/**
 * The worker's heap: what it keeps is one batch, so a small young generation
 * (collected often, each time quickly) and a cap on the old one keep it to
 * tens of MB; with V8's defaults it grew by a hundred, for nothing.
 */
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 16, maxOldGenerationSizeMb: 256 };

/** What a batch costs in a message, near enough. */
export function batchBytes(b: LoadBatch): number {
  return b.syscalls.text.length + b.syscalls.count * 24 + b.others.length * 1024;
}

/** Syscalls per batch at least: a few hundred batches for a million. */
const BATCH_SYSCALLS = 4096;
/** Other events per batch at most (snapshots are big). */
const BATCH_OTHERS = 256;

/**
 * The trace's events as LoadBatches, read on this thread. The first batch
 * goes out with the first piece read: it has the header and the first pause.
 * A broken file throws after the batches with every event before the break.
 */
export async function* loadBatches(path: string): AsyncGenerator<LoadBatch, void, undefined> {
  const cols = new ColumnsBuilder();
  let others: [number, GlassboxEvent][] = [];
  let count = 0;
  let sent = 0;
  const take = (): LoadBatch => {
    const b: LoadBatch = { kind: 'batch', count, syscalls: cols.take(), others };
    others = [];
    count = 0;
    sent++;
    return b;
  };
  // Each event filed as it is parsed: kept, a syscall event would outlive a garbage collection or two for nothing.
  const file = (e: GlassboxEvent) => {
    if (e.kind === 'syscall') cols.add(e);
    else others.push([count, e]);
    count++;
  };
  try {
    for await (const _ of readTraceInto(path, file)) {
      if (count && (!sent || cols.count >= BATCH_SYSCALLS || others.length >= BATCH_OTHERS)) yield take();
    }
  } catch (e) {
    // Every event before the break first.
    if (count) yield take();
    throw e;
  }
  if (count) yield take();
}

/** The buffers a batch can hand over instead of copying. */
export function transferable(b: LoadBatch): ArrayBuffer[] {
  const c = b.syscalls;
  return [c.ends.buffer, c.t.buffer, c.pid.buffer, c.kind.buffer, c.name.buffer, c.stage.buffer] as ArrayBuffer[];
}

/**
 * loadBatches on a worker thread, started now (the caller may have a first
 * screen to draw meanwhile): the same batches, the same error (an Error with
 * the reader's one-line message). If no worker can start, on this thread.
 */
export function loadInWorker(path: string): AsyncGenerator<LoadBatch, void, undefined> {
  let worker: Worker;
  try {
    worker = new Worker(new URL('./load-worker.js', import.meta.url), { workerData: { path }, resourceLimits: WORKER_LIMITS });
  } catch {
    return loadBatches(path);
  }
  const queue: LoadMessage[] = [];
  let failure: Error | undefined;
  let exited = false;
  let heard = false;
  let wake: (() => void) | undefined;
  const poke = () => {
    wake?.();
    wake = undefined;
  };
  worker.on('message', (m: LoadMessage) => {
    heard = true;
    queue.push(m);
    poke();
  });
  worker.on('error', (e) => {
    failure ??= e;
    poke();
  });
  worker.on('exit', () => {
    exited = true;
    poke();
  });
  return (async function* () {
    let head = 0;
    try {
      for (;;) {
        if (head < queue.length) {
          const m = queue[head]!;
          queue[head++] = undefined as never;
          if (head > 1024) {
            queue.splice(0, head);
            head = 0;
          }
          if (m.kind === 'batch') {
            yield m;
            // Filed: the worker may send as much again.
            worker.postMessage(batchBytes(m));
          } else if (m.kind === 'end') return;
          else throw new Error(m.message);
        } else if (failure && !heard) {
          // No worker after all (a build without the worker's file, a thread limit): read here.
          return yield* loadBatches(path);
        } else if (failure) throw failure;
        else if (exited) throw new Error('the reader thread stopped before the end of the trace');
        else await new Promise<void>((r) => (wake = r));
      }
    } finally {
      void worker.terminate();
    }
  })();
}
