// The live helper: the glassbox-shim executable, started by the native addon
// on a thread of its own (native/src/tracer.cc), which can ptrace it and
// everything it creates. Its control socket is fd 3, the container's stdio
// 0-2. One request at a time, answered in order; unsolicited events (init's
// host PID, its exit) are routed to the promises that wait for them.
import * as fs from 'node:fs';
import { existsSync } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { addon, type HelperProcess } from '../../native/addon.js';
import { GlassboxError } from '../../util/errors.js';
import { packageRoot } from '../../util/paths.js';
import { PROTOCOL_VERSION, type Args, type BatchItem, type Command, type ErrorReply, type Helper, type HelperEvent, type Reply } from './protocol.js';

export function shimPath(): string {
  const p = join(packageRoot(), 'native', 'build', 'Release', 'glassbox-shim');
  if (!existsSync(p)) throw new Error(`glassbox-shim missing at ${p}: run "npm run build:native"`);
  return p;
}

/** What the container's fd 0, 1 or 2 is: glassbox's own, /dev/null, or a descriptor of the caller's. */
export type StdioSlot = 'inherit' | 'ignore' | number;

/** The tracer's side of a helper: how much it records, and where syscall batches go. */
export interface TraceHooks {
  mode: 'full' | 'lesson';
  /** One byte per argument, 6 per syscall number (src/trace/syscalls/capture.ts). */
  capture: Uint8Array;
  /** Syscall numbers lesson mode stops on. */
  lesson: number[];
  /** execve and execveat's numbers on this architecture. */
  execNrs: number[];
  onBatch(records: Float64Array, data: Buffer): void;
}

export interface LiveHelperOptions {
  /** The container's stdin, stdout, stderr: inherited by default. */
  stdio?: [StdioSlot, StdioSlot, StdioSlot];
  /** Put the helper and all it creates under the tracer. */
  trace?: TraceHooks;
}

interface Pending {
  id: number;
  cmd: string;
  resolve(v: unknown): void;
  reject(e: Error): void;
}

export class LiveHelper implements Helper {
  private readonly proc: HelperProcess;
  private readonly socket: Socket;
  private buf = '';
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private _initPid: number | undefined;
  private initEnded = false;
  private gone = false;
  /** Settles when the helper process itself has exited and been reaped. */
  readonly closed: Promise<void>;
  private settleExit!: (v: { status?: number; signal?: number }) => void;
  readonly exited: Promise<{ status?: number; signal?: number }>;
  /** Set if the shim reported that execve failed after it answered. */
  execFailure: { errno: string; path: string; message: string } | undefined;

  /** Settles when the tracer has handed over every syscall and nothing it traced is left. */
  readonly traced: Promise<void>;
  private socketEnded = false;

  private constructor(o: LiveHelperOptions) {
    let closed!: () => void;
    let traced!: () => void;
    this.closed = new Promise((r) => (closed = r));
    this.traced = new Promise((r) => (traced = r));
    this.exited = new Promise((r) => (this.settleExit = r));
    const opened: number[] = [];
    const fds = (o.stdio ?? ['inherit', 'inherit', 'inherit']).map((slot, i) => {
      if (slot === 'inherit') return i;
      if (slot === 'ignore') {
        const fd = fs.openSync('/dev/null', i === 0 ? 'r' : 'w');
        opened.push(fd);
        return fd;
      }
      return slot;
    });
    const t = o.trace;
    try {
      this.proc = new (addon().HelperProcess)(
        { file: shimPath(), argv: ['glassbox-shim'], env: shimEnv(), fds, trace: t ? (t.mode === 'full' ? 1 : 2) : 0, capture: t?.capture, lesson: t?.lesson, execNrs: t?.execNrs },
        (kind, a, b) => {
          if (kind === 'syscalls') t?.onBatch(a as Float64Array, b as Buffer);
          else if (kind === 'exit') this.onHelperExit(a as { status?: number; signal?: number; execErrno?: string }, closed);
          else traced();
        },
      );
    } finally {
      for (const fd of opened) fs.closeSync(fd);
    }
    this.socket = new Socket({ fd: this.proc.controlFd, readable: true, writable: true });
    this.socket.setEncoding('utf8');
    this.socket.on('data', (d: string) => this.onData(d));
    this.socket.on('error', () => {});
    this.socket.once('close', () => (this.socketEnded = true));
  }

  private onHelperExit(e: { status?: number; signal?: number; execErrno?: string }, closed: () => void): void {
    this.gone = true;
    // The tracer thread may tell of the exit before the socket has delivered
    // the helper's last lines (init's exit status among them): read to its
    // end first, then settle with what it said, or with the helper's own end.
    const finish = () => {
      const how = e.execErrno ? `could not be started: ${e.execErrno}` : `exited (${e.signal !== undefined ? `signal ${e.signal}` : `code ${e.status}`}) before answering`;
      const err = new GlassboxError(`helper ${how}`, { op: 'helper', code: e.execErrno ?? 'EPIPE' });
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
      // If init never ran, its end is the helper's end.
      this.settleExit(e.signal !== undefined ? { signal: e.signal } : { status: e.status ?? 0 });
      this.socket.destroy();
      closed();
    };
    if (this.socketEnded) finish();
    else {
      const timer = setTimeout(finish, SOCKET_DRAIN_MS);
      this.socket.once('close', () => {
        clearTimeout(timer);
        finish();
      });
    }
  }

  static async start(o: LiveHelperOptions = {}): Promise<LiveHelper> {
    const h = new LiveHelper(o);
    const hello = await h.call('hello', {});
    if (hello.version !== PROTOCOL_VERSION) {
      h.kill();
      throw new GlassboxError(`helper speaks protocol ${hello.version}, glassbox ${PROTOCOL_VERSION}: rebuild with npm run build`, { op: 'helper', code: 'EPROTO' });
    }
    return h;
  }

  get pid(): number {
    return this.proc.pid;
  }

  /** Tag every syscall entered from now on with this stage (an index into the run's stage list). */
  setStage(index: number): void {
    this.proc.setStage(index);
  }

  setStageOnExec(index: number): void {
    this.proc.setStageOnExec(index);
  }

  get initPid(): number | undefined {
    return this._initPid;
  }

  call<C extends Command>(cmd: C, args: Args<C>): Promise<Reply<C>> {
    return this.send(cmd, args) as Promise<Reply<C>>;
  }

  async batch(items: BatchItem[]): Promise<Record<string, unknown>[]> {
    if (items.length === 0) return [];
    const r = (await this.send('batch', { cmds: items })) as { replies: Record<string, unknown>[] };
    return r.replies;
  }

  private send(cmd: string, args: object): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.gone) {
        reject(new GlassboxError(`helper is gone; cannot ${cmd}`, { op: 'helper', code: 'EPIPE' }));
        return;
      }
      this.pending.set(id, { id, cmd, resolve: resolve as (v: unknown) => void, reject });
      this.socket.write(JSON.stringify({ id, cmd, ...args }) + '\n');
    });
  }

  /**
   * Signal the container. Once init exists the helper passes the signal on
   * (SIGKILL as SIGUSR2, since SIGKILL cannot be caught), reaps init, and
   * exits by itself; before that, the helper is the container.
   */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.gone) return;
    if (this._initPid !== undefined && !this.initEnded) this.signal(signal === 'SIGKILL' ? KILL_INIT : signal);
    else this.signal(signal);
  }

  /** Kill the container and wait until the helper has exited; SIGKILL it if it will not. */
  async stop(graceMs = 2000): Promise<void> {
    if (this.gone) return;
    this.kill('SIGKILL');
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    await this.closed;
    clearTimeout(timer);
  }

  private signal(s: NodeJS.Signals): void {
    if (this.gone) return;
    try {
      process.kill(this.proc.pid, s);
    } catch {
      // already gone: its exit is on its way
    }
  }

  private onData(d: string): void {
    this.buf += d;
    for (let nl = this.buf.indexOf('\n'); nl !== -1; nl = this.buf.indexOf('\n')) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue;
      }
      if (typeof msg.event === 'string') this.onEvent(msg as unknown as HelperEvent);
      else this.onReply(msg);
    }
  }

  private onEvent(e: HelperEvent): void {
    switch (e.event) {
      case 'init':
        this._initPid = e.pid;
        break;
      case 'exit':
        this.initEnded = true;
        this.settleExit('signal' in e ? { signal: e.signal } : { status: e.status });
        break;
      case 'exec_failed':
        this.execFailure = { errno: e.errno, path: e.path, message: e.message };
        break;
    }
  }

  private onReply(msg: Record<string, unknown>): void {
    const p = this.pending.get(msg.id as number);
    if (!p) return;
    this.pending.delete(p.id);
    if (msg.ok) {
      p.resolve(msg);
      return;
    }
    const e = msg as unknown as ErrorReply;
    const where = e.path ? ` ${e.path}` : '';
    // crun's form, "mount /proc: Operation not permitted"; a message of its own stands alone.
    const text = e.syscall ? `${e.syscall}${where}: ${e.message}` : e.message;
    p.reject(new GlassboxError(text, { op: 'helper', code: e.errno }));
  }
}

/** Longest wait for the helper's socket to end once the helper is gone (a grandchild could hold it). */
const SOCKET_DRAIN_MS = 1000;

/** native/helper/protocol.h kSignalKillInit */
const KILL_INIT: NodeJS.Signals = 'SIGUSR2';

/** The helper's environment: glassbox's own, as child_process would have passed it. */
function shimEnv(): string[] {
  return Object.entries(process.env).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`]));
}
