// One worker thread per core, at most MAX_LAYER_THREADS, shared by every
// layer transfer of a pull or a load. A worker runs TRANSFERS_PER_THREAD
// transfers at once; a job goes to the worker with the fewest, and when every
// worker is full it waits for the first place to free up. Fewer isolates than
// layers keeps memory low (each V8 isolate costs ~11 MB before it does
// anything).
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import type { EventSink } from '../events/schema.js';
import type { LayerPipeJob, LayerPipeResult } from './layerpipe.js';
import { fromPipeError, TransferError } from './pipeerror.js';
import type { FromWorker, ToWorker, WorkerSource } from './layerworker.js';
import { MAX_LAYER_THREADS, TRANSFERS_PER_THREAD } from './limits.js';

interface Job {
  resolve(r: LayerPipeResult): void;
  reject(e: Error): void;
  onBytes(n: number): void;
  events?: EventSink;
  layer: string;
  op: string;
  subject?: string;
}

interface Slot {
  worker: Worker;
  jobs: Set<number>;
}

export interface PoolRun {
  job: LayerPipeJob;
  source: WorkerSource;
  /** For error messages: the layer digest, the operation, the image. */
  layer: string;
  op: string;
  subject?: string;
  onBytes(n: number): void;
  /** Where the worker's registry client reports its requests. */
  events?: EventSink;
  signal?: AbortSignal;
}

export class LayerPool {
  private readonly slots: Slot[] = [];
  private readonly jobs = new Map<number, Job>();
  /** Transfers waiting for a place in a worker, first come first served. */
  private readonly waiting: { go(): void; refuse(e: Error): void }[] = [];
  private nextId = 1;
  private closed = false;

  constructor(private readonly size = Math.max(1, Math.min(MAX_LAYER_THREADS, os.availableParallelism()))) {}

  private spawn(): Slot {
    const worker = new Worker(new URL('./layerworker.js', import.meta.url));
    const slot: Slot = { worker, jobs: new Set() };
    worker.on('message', (m: FromWorker) => this.onMessage(slot, m));
    const fail = (e: Error) => {
      for (const id of slot.jobs) this.settle(slot, id, (j) => j.reject(e));
      const i = this.slots.indexOf(slot);
      if (i !== -1) this.slots.splice(i, 1);
      this.admit();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`layer worker exited with code ${code}`)));
    this.slots.push(slot);
    return slot;
  }

  /**
   * Start workers for `jobs` transfers to come (at most one per core), so
   * that their start-up (~100 ms of loading code) overlaps the manifest and
   * config requests instead of delaying the first layer.
   */
  warm(jobs: number): void {
    while (!this.closed && this.slots.length < Math.min(this.size, jobs)) this.spawn();
  }

  private hasRoom(): boolean {
    return this.slots.length < this.size || this.slots.some((s) => s.jobs.size < TRANSFERS_PER_THREAD);
  }

  /** A worker with room: an idle one, else a new one, else the one with the fewest transfers. */
  private slot(): Slot {
    const idle = this.slots.find((s) => s.jobs.size === 0);
    if (idle) return idle;
    if (this.slots.length < this.size) return this.spawn();
    return this.slots.reduce((a, b) => (b.jobs.size < a.jobs.size ? b : a));
  }

  /** Start waiting transfers while there is room. */
  private admit(): void {
    while (!this.closed && this.waiting.length > 0 && this.hasRoom()) this.waiting.shift()!.go();
  }

  private settle(slot: Slot, id: number, fn: (j: Job) => void): void {
    const j = this.jobs.get(id);
    if (!j) return;
    this.jobs.delete(id);
    slot.jobs.delete(id);
    fn(j);
    this.admit();
  }

  private onMessage(slot: Slot, m: FromWorker): void {
    const j = this.jobs.get(m.id);
    if (!j) return;
    switch (m.type) {
      case 'progress':
        j.onBytes(m.bytes);
        break;
      case 'event':
        j.events?.(m.event);
        break;
      case 'done':
        this.settle(slot, m.id, (x) => x.resolve(m.result));
        break;
      case 'error':
        this.settle(slot, m.id, (x) => x.reject(fromPipeError(m.error, x.layer, x.op, x.subject)));
        break;
    }
  }

  /**
   * Run one transfer in a worker, once one has room; settle with its result
   * or its error, rebuilt. Aborted while it waits, it fails as an
   * interrupted transfer, without having started.
   */
  run(r: PoolRun): Promise<LayerPipeResult> {
    if (this.closed) return Promise.reject(new Error('layer pool is closed'));
    if (this.hasRoom()) return this.start(r);
    return new Promise<LayerPipeResult>((resolve, reject) => {
      const entry = {
        go: () => {
          r.signal?.removeEventListener('abort', onAbort);
          this.start(r).then(resolve, reject);
        },
        refuse: (e: Error) => {
          r.signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      const onAbort = () => {
        const i = this.waiting.indexOf(entry);
        if (i !== -1) this.waiting.splice(i, 1);
        entry.refuse(new TransferError('interrupted'));
      };
      this.waiting.push(entry);
      r.signal?.addEventListener('abort', onAbort, { once: true });
      if (r.signal?.aborted) onAbort();
    });
  }

  private start(r: PoolRun): Promise<LayerPipeResult> {
    if (this.closed) return Promise.reject(new Error('layer pool is closed'));
    const slot = this.slot();
    const id = this.nextId++;
    const send = (m: ToWorker) => slot.worker.postMessage(m);
    const onAbort = () => send({ type: 'abort', id });
    return new Promise<LayerPipeResult>((resolve, reject) => {
      const done = () => r.signal?.removeEventListener('abort', onAbort);
      this.jobs.set(id, {
        resolve: (x) => (done(), resolve(x)),
        reject: (e) => (done(), reject(e)),
        onBytes: r.onBytes,
        events: r.events,
        layer: r.layer,
        op: r.op,
        subject: r.subject,
      });
      slot.jobs.add(id);
      r.signal?.addEventListener('abort', onAbort, { once: true });
      send({ type: 'start', id, job: r.job, source: r.source });
      if (r.signal?.aborted) onAbort();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.waiting.splice(0)) w.refuse(new Error('layer pool is closed'));
    const slots = this.slots.splice(0);
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }
}
