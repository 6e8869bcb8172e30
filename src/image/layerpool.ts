// One worker thread per core, at most MAX_LAYER_THREADS, shared by every
// layer transfer of a pull or a load. A worker runs several transfers at
// once; a job goes to the worker with the fewest. Fewer isolates than layers
// keeps memory low (each V8 isolate costs ~11 MB before it does anything).
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import type { EventSink } from '../events/schema.js';
import type { LayerPipeJob, LayerPipeResult } from './layerpipe.js';
import { fromPipeError } from './pipeerror.js';
import type { FromWorker, ToWorker, WorkerSource } from './layerworker.js';
import { MAX_LAYER_THREADS } from './limits.js';

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

  private slot(): Slot {
    const idle = this.slots.find((s) => s.jobs.size === 0);
    if (idle) return idle;
    if (this.slots.length < this.size) return this.spawn();
    return this.slots.reduce((a, b) => (b.jobs.size < a.jobs.size ? b : a));
  }

  private settle(slot: Slot, id: number, fn: (j: Job) => void): void {
    const j = this.jobs.get(id);
    if (!j) return;
    this.jobs.delete(id);
    slot.jobs.delete(id);
    fn(j);
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

  /** Run one transfer in a worker; settle with its result or its error, rebuilt. */
  run(r: PoolRun): Promise<LayerPipeResult> {
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
    const slots = this.slots.splice(0);
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }
}
