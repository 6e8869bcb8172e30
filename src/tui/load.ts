// Loading a trace file for replay: the events as LoadBatches (syscalls as the
// stream's columns, the rest as they are), read and turned into lines on a
// worker thread (src/tui/load-worker.ts) so the TUI's thread only files them
// away, and parses pieces of lines itself while it has time; on this
// thread if no worker can start.
import { Worker } from 'node:worker_threads';
import type { GlassboxEvent } from '../events/schema.js';
import { parseLines, readTraceInto, type LineHandoff } from '../trace/read.js';
import { ColumnsBuilder, type SyscallColumns } from './lines.js';

/** The events of a piece of the file: `count` of them in order, the syscalls as columns, the others as they are with their place among the `count`. */
export interface LoadBatch {
  kind: 'batch';
  count: number;
  syscalls: SyscallColumns;
  others: [number, GlassboxEvent][];
}

/**
 * Whole lines of the file, the first of them line `first`, for the TUI's
 * thread to parse itself (linesBatch): while it keeps up, it parses a piece
 * while the worker parses the next.
 */
export interface LoadLines {
  kind: 'lines';
  bytes: Uint8Array;
  first: number;
}

/** What the worker posts: batches and lines in file order, then one end or one error. */
export type LoadMessage = LoadBatch | LoadLines | { kind: 'end' } | { kind: 'error'; message: string };

/** What the TUI's thread tells the worker: bytes of batches filed, and pieces of lines parsed. */
export interface LoadAck {
  filed: number;
  parsed: number;
}

/**
 * Bytes of batches the worker may have sent that the TUI's thread has not
 * filed yet. While the first screen draws (most of a second) the worker
 * reads on; unbounded, on a busy machine, the whole trace would wait in
 * messages beside its copy in the log.
 */
export const IN_FLIGHT_BYTES = 48 * 1024 * 1024;

/** Pieces of lines the TUI's thread may have waiting: more, and the worker parses them itself. */
export const LINES_IN_FLIGHT = 2;

/**
 * The worker's heap: what it keeps is one batch, so a small young generation
 * (collected often, each time quickly) and a cap on the old one keep it to
 * tens of MB; with V8's defaults the replay's peak RSS was 20-40 MB higher,
 * for nothing.
 */
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 16, maxOldGenerationSizeMb: 256 };

/** What a message costs, near enough. */
export function messageBytes(b: LoadBatch | LoadLines): number {
  if (b.kind === 'lines') return b.bytes.length;
  return b.syscalls.text.length + b.syscalls.count * 24 + b.others.length * 1024;
}

/** Syscalls per batch at least: a few hundred batches for a million. */
const BATCH_SYSCALLS = 4096;
/** Other events per batch at most (snapshots are big). */
const BATCH_OTHERS = 256;

/** Builds LoadBatches an event at a time. */
class BatchBuilder {
  private cols = new ColumnsBuilder();
  private others: [number, GlassboxEvent][] = [];
  count = 0;

  /** Each event filed as it is parsed: kept, a syscall event would outlive a garbage collection or two for nothing. */
  readonly file = (e: GlassboxEvent): void => {
    if (e.kind === 'syscall') this.cols.add(e);
    else this.others.push([this.count, e]);
    this.count++;
  };

  get full(): boolean {
    return this.cols.count >= BATCH_SYSCALLS || this.others.length >= BATCH_OTHERS;
  }

  take(): LoadBatch {
    const b: LoadBatch = { kind: 'batch', count: this.count, syscalls: this.cols.take(), others: this.others };
    this.others = [];
    this.count = 0;
    return b;
  }
}

/** linesBatch's builder: one, its arrays kept from piece to piece. */
let piecesBuilder: BatchBuilder | undefined;

/** A piece of lines the worker handed over, parsed here: its batch, and then the error of a broken line in it, if any. */
export function linesBatch(path: string, l: LoadLines): { batch: LoadBatch; error?: unknown } {
  const b = (piecesBuilder ??= new BatchBuilder());
  try {
    parseLines(path, Buffer.from(l.bytes.buffer, l.bytes.byteOffset, l.bytes.length), l.first, b.file);
  } catch (error) {
    return { batch: b.take(), error };
  }
  return { batch: b.take() };
}

/**
 * The trace's events as LoadBatches, read on this thread; with `handOver`,
 * pieces of lines it says yes to come as LoadLines instead, in their place.
 * The first batch goes out with the first piece read: it has the header and
 * the first pause. A broken file throws after everything before the break.
 */
export async function* loadBatches(path: string, handOver?: () => boolean): AsyncGenerator<LoadBatch | LoadLines, void, undefined> {
  const b = new BatchBuilder();
  let out: (LoadBatch | LoadLines)[] = [];
  let sent = false;
  const handoff: LineHandoff | undefined =
    handOver &&
    ((bytes, first) => {
      if (!handOver()) return false;
      if (b.count) out.push(b.take());
      // A copy: the reader's buffer is reused, and this one is transferred.
      out.push({ kind: 'lines', bytes: new Uint8Array(bytes), first });
      return true;
    });
  try {
    for await (const _ of readTraceInto(path, b.file, handoff)) {
      if (b.count && (!sent || b.full)) out.push(b.take());
      sent ||= out.length > 0;
      const o = out;
      out = [];
      yield* o;
    }
  } catch (e) {
    // Every event before the break first.
    if (b.count) out.push(b.take());
    yield* out;
    throw e;
  }
  if (b.count) out.push(b.take());
  yield* out;
}

/** The buffers a message can hand over instead of copying. */
export function transferable(b: LoadBatch | LoadLines): ArrayBuffer[] {
  if (b.kind === 'lines') return [b.bytes.buffer as ArrayBuffer];
  const c = b.syscalls;
  return [c.ends.buffer, c.t.buffer, c.pid.buffer, c.kind.buffer, c.name.buffer, c.stage.buffer] as ArrayBuffer[];
}

/**
 * loadBatches on a worker thread, started now (the caller may have a first
 * screen to draw meanwhile): the same events in batches, the same error (an
 * Error with the reader's one-line message). The pieces of lines the worker
 * hands over are parsed here, as the caller asks for the next batch: then
 * both threads parse. If no worker can start, all on this thread.
 */
export function loadInWorker(path: string): AsyncGenerator<LoadBatch, void, undefined> {
  let worker: Worker;
  try {
    // None of the program's flags: a module preloaded with --import (a profiler, bench/tui's frame hook) would load first, in it too.
    worker = new Worker(new URL('./load-worker.js', import.meta.url), { workerData: { path }, resourceLimits: WORKER_LIMITS, execArgv: [] });
  } catch {
    return loadBatches(path) as AsyncGenerator<LoadBatch, void, undefined>;
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
            worker.postMessage({ filed: messageBytes(m), parsed: 0 } satisfies LoadAck);
          } else if (m.kind === 'lines') {
            // Handed over: parsed here, while the worker parses the next piece.
            const { batch, error } = linesBatch(path, m);
            if (batch.count) yield batch;
            worker.postMessage({ filed: messageBytes(m), parsed: 1 } satisfies LoadAck);
            if (error) throw error;
          } else if (m.kind === 'end') return;
          else throw new Error(m.message);
        } else if (failure && !heard) {
          // No worker after all (a build without the worker's file, a thread limit): read here.
          return yield* loadBatches(path) as AsyncGenerator<LoadBatch, void, undefined>;
        } else if (failure) throw failure;
        else if (exited) throw new Error('the reader thread stopped before the end of the trace');
        else await new Promise<void>((r) => (wake = r));
      }
    } finally {
      void worker.terminate();
    }
  })();
}
