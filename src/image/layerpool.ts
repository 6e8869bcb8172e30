// One worker thread per core, shared by every layer transfer of a pull or a
// load. A worker runs several transfers at once; a job goes to the worker
// with the fewest. Fewer isolates than layers keeps memory low (each V8
// isolate costs ~11 MB before it does anything).
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { fromPipeError, type LayerPipeJob, type LayerPipeResult } from './layerpipe.js';
import type { BlobSource } from './layerfetch.js';
import { IN_FLIGHT, type FromWorker, type ToWorker } from './layerworker.js';
import { describeFetchError } from './registry.js';

interface Job {
  resolve(r: LayerPipeResult): void;
  reject(e: Error): void;
  onBytes(n: number): void;
  /** Acknowledged bytes wake the feeder. */
  onAck(n: number): void;
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
  src: BlobSource;
  /** For error messages: the layer digest, the operation, the image. */
  layer: string;
  op: string;
  subject?: string;
  onBytes(n: number): void;
  signal?: AbortSignal;
}

export class LayerPool {
  private readonly slots: Slot[] = [];
  private readonly jobs = new Map<number, Job>();
  private nextId = 1;
  private closed = false;

  constructor(private readonly size = Math.max(1, os.availableParallelism())) {}

  private slot(): Slot {
    if (this.slots.length < this.size && this.slots.every((s) => s.jobs.size > 0)) {
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
      case 'ack':
        j.onAck(m.bytes);
        break;
      case 'progress':
        j.onBytes(m.bytes);
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
   * Run one transfer; settle with its result or its error, rebuilt. A web
   * stream source is read here and fed to the worker within IN_FLIGHT bytes
   * of what it has acknowledged.
   */
  run(r: PoolRun): Promise<LayerPipeResult> {
    if (this.closed) return Promise.reject(new Error('layer pool is closed'));
    const slot = this.slot();
    const id = this.nextId++;
    const send = (m: ToWorker, transfer: ArrayBuffer[] = []) => slot.worker.postMessage(m, transfer);
    const stream = 'stream' in r.src ? r.src.stream : undefined;
    let inFlight = 0;
    let wake: (() => void) | undefined;
    let settled = false;
    const onAbort = () => send({ type: 'abort', id });
    return new Promise<LayerPipeResult>((resolve, reject) => {
      const done = () => {
        settled = true;
        r.signal?.removeEventListener('abort', onAbort);
        stream?.destroy();
        wake?.();
      };
      this.jobs.set(id, {
        resolve: (x) => (done(), resolve(x)),
        reject: (e) => (done(), reject(e)),
        onBytes: r.onBytes,
        onAck: (n) => {
          inFlight -= n;
          if (inFlight <= IN_FLIGHT && wake) {
            const w = wake;
            wake = undefined;
            w();
          }
        },
        layer: r.layer,
        op: r.op,
        subject: r.subject,
      });
      slot.jobs.add(id);
      r.signal?.addEventListener('abort', onAbort, { once: true });
      if (!stream) {
        send({ type: 'start', id, job: r.job, source: { kind: 'file', file: (r.src as { file: string }).file } });
        return;
      }
      send({ type: 'start', id, job: r.job, source: { kind: 'messages' } });
      let read = 0;
      void (async () => {
        try {
          for await (const value of stream as AsyncIterable<Buffer>) {
            if (settled) return;
            read += value.byteLength;
            inFlight += value.byteLength;
            // Hand the bytes over without a copy when the chunk owns its whole buffer.
            const whole = value.byteOffset === 0 && value.byteLength === value.buffer.byteLength;
            send({ type: 'chunk', id, data: value }, whole ? [value.buffer as ArrayBuffer] : []);
            if (inFlight > IN_FLIGHT) await new Promise<void>((w) => (wake = w));
            if (settled) return;
          }
          if (!settled) send({ type: 'end', id });
        } catch (e) {
          const of = r.src.length !== undefined ? ` of ${r.src.length}` : '';
          if (!settled) send({ type: 'fail', id, message: `body broke after ${read}${of} bytes: ${describeFetchError(e)}` });
        }
      })();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const slots = this.slots.splice(0);
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }
}
