// The recorder: the event stream to a file, one schema event a JSON line,
// append-only, gzipped when the name ends in .gz. The sink is synchronous
// (the engine and the tracer call it inline), so lines are gathered in memory
// and handed to the file in chunks; the chunks respect the streams'
// backpressure, and what waits is counted so a slow disk is visible rather
// than silent. A gzip file is sync-flushed at every stage event and at least
// every second: a crash leaves a file that reads back to the last flush.
//
// On disk each line is exactly the event object (JSON.stringify of it), so a
// trace is readable with jq and nothing on the read side has to undo an
// encoding. Measured on a synthetic cat loop: about 14 bytes per syscall
// gzipped (test/tracefile.test.ts checks it stays under 40).
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { createWriteStream, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';
import { finished } from 'node:stream/promises';
import { constants as zlibConstants, createGzip, type Gzip } from 'node:zlib';
import type { EventSink, GlassboxEvent } from '../events/schema.js';
import { GlassboxError } from '../util/errors.js';

/** Bytes waiting for a slow disk past which the recorder says so (it still keeps them). */
export const BACKLOG_LIMIT = 64 * 1024 * 1024;

/** Lines are handed to the file in chunks of about this size. */
const CHUNK_BYTES = 64 * 1024;

export interface RecorderOptions {
  /** How often pending lines reach the file (and a gzip stream is sync-flushed), in ms. */
  flushMs?: number;
  /** Called when the backlog first grows past BACKLOG_LIMIT (and again after it has come back under half of it). */
  onBacklog?: (bytes: number) => void;
  /** Called once when writing fails (a full disk); the recorder stops, close() rejects with the same error. */
  onError?: (e: GlassboxError) => void;
}

export interface Recorder {
  /** Give it every event of the run, header first. */
  sink: EventSink;
  /** Bytes written to the file so far (compressed, for .gz). */
  bytes(): number;
  /** Bytes the recorder holds that the file has not taken yet: near 0 unless the disk is slower than the run. */
  backlog(): number;
  /** Everything recorded so far, on disk and (gzip) ending a compressed block: the file reads back to here. */
  flush(): Promise<void>;
  /** Flush, end the file and close it. Rejects if any write failed. */
  close(): Promise<void>;
}

function openError(path: string, e: NodeJS.ErrnoException): GlassboxError {
  const ctx = { op: 'record', subject: path, code: e.code, cause: e };
  switch (e.code) {
    case 'EEXIST':
      return new GlassboxError('the file exists; a recording never overwrites one', ctx);
    case 'ENOENT':
      return new GlassboxError(`no directory ${dirname(path)} (it is not created)`, ctx);
    case 'ENOTDIR':
      return new GlassboxError(`${dirname(path)} is not a directory`, ctx);
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return new GlassboxError(`cannot create it: ${e.code}`, ctx);
    case 'EISDIR':
      return new GlassboxError('is a directory', ctx);
    default:
      return new GlassboxError(`cannot create it: ${e.code ?? e.message}`, ctx);
  }
}

/** Start a recording at path: created exclusively, mode 0644, in a directory that exists. */
export async function openRecorder(path: string, o: RecorderOptions = {}): Promise<Recorder> {
  let fh: FileHandle;
  try {
    // O_APPEND | O_EXCL: a new file, only ever appended to.
    fh = await open(path, 'ax', 0o644);
  } catch (e) {
    throw openError(path, e as NodeJS.ErrnoException);
  }
  try {
    // Replayed by anyone, on any machine: readable by all, whatever the umask.
    await fh.chmod(0o644);
  } catch (e) {
    await fh.close().catch(() => {});
    throw openError(path, e as NodeJS.ErrnoException);
  }
  return new FileRecorder(path, fh, path.endsWith('.gz'), o).api();
}

class FileRecorder {
  private readonly file: WriteStream;
  private readonly gz: Gzip | undefined;
  /** Where chunks go: the gzip stream, or the file. */
  private readonly head: NodeJS.WritableStream & { writableNeedDrain: boolean; writableLength: number };
  private parts: string[] = [];
  private partBytes = 0;
  /** Chunks held while the head is above its high water mark. */
  private readonly queue: Buffer[] = [];
  private queued = 0;
  private overLimit = false;
  private pendingFileWrites = 0;
  private dirty = false;
  private idleWaiters: (() => void)[] = [];
  private queueWaiters: (() => void)[] = [];
  private failure: GlassboxError | undefined;
  private closing: Promise<void> | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly path: string,
    fh: FileHandle,
    gzip: boolean,
    private readonly o: RecorderOptions,
  ) {
    this.file = createWriteStream('', { fd: fh, highWaterMark: 256 * 1024 });
    this.file.on('error', (e) => this.fail(e));
    this.file.on('drain', () => {
      this.gz?.resume();
      this.pump();
    });
    if (gzip) {
      const gz = createGzip({ level: 6 });
      this.gz = gz;
      // By hand rather than pipe(): each file write is counted, so flush()
      // knows when the compressed bytes are on disk.
      gz.on('data', (chunk: Buffer) => {
        if (!this.writeFile(chunk)) gz.pause();
      });
      gz.on('error', (e) => this.fail(e));
      gz.on('drain', () => this.pump());
      this.head = gz;
    } else {
      this.head = this.file;
    }
    this.timer = setInterval(() => {
      if (this.dirty || this.partBytes) void this.sync(false);
    }, o.flushMs ?? 1000);
    this.timer.unref();
  }

  api(): Recorder {
    return {
      sink: (e) => this.add(e),
      bytes: () => this.file.bytesWritten,
      backlog: () => this.backlog(),
      flush: () => this.sync(true),
      close: () => this.close(),
    };
  }

  private backlog(): number {
    return this.partBytes + this.queued + this.head.writableLength + (this.gz ? this.file.writableLength : 0);
  }

  private add(e: GlassboxEvent): void {
    if (this.failure || this.closing) return;
    const line = `${JSON.stringify(e)}\n`;
    this.parts.push(line);
    this.partBytes += line.length;
    // A stage boundary, the start and the end are where a reader most wants the file to stop if the run dies.
    if (e.kind === 'stage' || e.kind === 'header' || e.kind === 'exit') void this.sync(false);
    else if (this.partBytes >= CHUNK_BYTES) this.push();
  }

  /** The gathered lines become one chunk, written now or queued behind the backpressure. */
  private push(): void {
    if (!this.partBytes) return;
    const chunk = Buffer.from(this.parts.join(''), 'utf8');
    this.parts = [];
    this.partBytes = 0;
    this.dirty = true;
    if (this.queue.length || this.head.writableNeedDrain) {
      this.queue.push(chunk);
      this.queued += chunk.length;
      this.watchBacklog();
    } else {
      this.writeHead(chunk);
    }
  }

  private pump(): void {
    while (this.queue.length && !this.head.writableNeedDrain && !this.failure) {
      const chunk = this.queue.shift()!;
      this.queued -= chunk.length;
      this.writeHead(chunk);
    }
    this.watchBacklog();
    this.wakeQueueWaiters();
    this.settle();
  }

  private watchBacklog(): void {
    const b = this.backlog();
    if (!this.overLimit && b > BACKLOG_LIMIT) {
      this.overLimit = true;
      this.o.onBacklog?.(b);
    } else if (this.overLimit && b < BACKLOG_LIMIT / 2) {
      this.overLimit = false;
    }
  }

  private writeHead(chunk: Buffer): void {
    if (this.gz) this.gz.write(chunk);
    else this.writeFile(chunk);
  }

  private writeFile(chunk: Buffer): boolean {
    this.pendingFileWrites++;
    return this.file.write(chunk, () => {
      this.pendingFileWrites--;
      this.settle();
    });
  }

  /** Wake flush() callers once nothing is queued anywhere between the recorder and the disk. */
  private settle(): void {
    if (!this.idleWaiters.length) return;
    const idle = this.failure || (!this.queue.length && this.pendingFileWrites === 0 && this.file.writableLength === 0 && (!this.gz || (this.gz.readableLength === 0 && this.gz.writableLength === 0)));
    if (!idle) return;
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const f of w) f();
  }

  private idle(): Promise<void> {
    return new Promise((resolve) => {
      this.idleWaiters.push(resolve);
      this.settle();
    });
  }

  /**
   * Hand everything gathered to the file and end a compressed block. With
   * disk, also wait until the file has taken it all (the caller wants it
   * readable now); without, return as soon as the flush is queued (the timer
   * and stage events, which must not wait on a busy run's next quiet moment).
   */
  private async sync(disk: boolean): Promise<void> {
    this.push();
    if (this.gz && this.dirty && !this.failure) {
      this.dirty = false;
      // The queue must reach zlib before the flush marker: wait for it, then flush.
      if (this.queue.length) await this.queueEmpty();
      if (!this.failure && !this.gz.writableEnded) await new Promise<void>((resolve) => this.gz!.flush(zlibConstants.Z_SYNC_FLUSH, () => resolve()));
    } else {
      this.dirty = false;
    }
    if (!disk) return;
    await this.idle();
    if (this.failure) throw this.failure;
  }

  private queueEmpty(): Promise<void> {
    return new Promise((resolve) => {
      this.queueWaiters.push(resolve);
      this.wakeQueueWaiters();
    });
  }

  private wakeQueueWaiters(): void {
    if (this.queue.length && !this.failure) return;
    const w = this.queueWaiters;
    this.queueWaiters = [];
    for (const f of w) f();
  }

  private close(): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.timer);
      this.push();
      await this.queueEmpty();
      if (this.gz && !this.failure) {
        this.gz.end();
        await finished(this.gz).catch(() => {});
      }
      if (this.failure) this.file.destroy();
      else this.file.end();
      await finished(this.file).catch(() => {});
      if (this.failure) throw this.failure;
    })();
    return this.closing;
  }

  private fail(e: Error): void {
    if (this.failure) return;
    const code = (e as NodeJS.ErrnoException).code;
    this.failure = new GlassboxError(`writing failed: ${code ?? e.message}; the recording stops here`, { op: 'record', subject: this.path, code, cause: e });
    this.queue.length = 0;
    this.queued = 0;
    this.parts = [];
    this.partBytes = 0;
    clearInterval(this.timer);
    this.o.onError?.(this.failure);
    this.wakeQueueWaiters();
    this.settle();
    this.gz?.destroy();
    this.file.destroy();
  }
}
