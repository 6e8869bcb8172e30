// The live helper: the glassbox-shim executable, started with its control
// socket on fd 3 and the container's stdio on 0-2. One request at a time,
// answered in order; unsolicited events (init's host PID, its exit) are
// routed to the promises that wait for them.
import { spawn, type ChildProcess, type IOType } from 'node:child_process';
import type { Stream } from 'node:stream';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { GlassboxError } from '../../util/errors.js';
import { packageRoot } from '../../util/paths.js';
import { PROTOCOL_VERSION, type Args, type Command, type ErrorReply, type Helper, type HelperEvent, type Reply } from './protocol.js';

export function shimPath(): string {
  const p = join(packageRoot(), 'native', 'build', 'Release', 'glassbox-shim');
  if (!existsSync(p)) throw new Error(`glassbox-shim missing at ${p}: run "npm run build:native"`);
  return p;
}

export type StdioSlot = IOType | Stream | number;

export interface LiveHelperOptions {
  /** The container's stdin, stdout, stderr: inherited by default. */
  stdio?: [StdioSlot, StdioSlot, StdioSlot];
  /** Stage or operation named in errors. */
  op?: string;
}

interface Pending {
  id: number;
  cmd: string;
  resolve(v: unknown): void;
  reject(e: Error): void;
}

export class LiveHelper implements Helper {
  private readonly child: ChildProcess;
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

  private constructor(child: ChildProcess) {
    this.child = child;
    this.socket = child.stdio[3] as Socket;
    this.exited = new Promise((r) => (this.settleExit = r));
    this.closed = new Promise((r) => child.once('exit', () => r()));
    this.socket.setEncoding('utf8');
    this.socket.on('data', (d: string) => this.onData(d));
    this.socket.on('error', () => {});
    child.on('exit', (code, signal) => {
      this.gone = true;
      const err = new GlassboxError(`helper exited (${signal ?? `code ${code}`}) before answering`, { op: 'helper', code: 'EPIPE' });
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
      // If init never ran, its end is the helper's end.
      this.settleExit(signal ? { signal: signalNumber(signal) } : { status: code ?? 0 });
    });
  }

  static async start(o: LiveHelperOptions = {}): Promise<LiveHelper> {
    const [i, out, err] = o.stdio ?? ['inherit', 'inherit', 'inherit'];
    const child = spawn(shimPath(), [], { stdio: [i, out, err, 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    const h = new LiveHelper(child);
    const hello = await h.call('hello', {});
    if (hello.version !== PROTOCOL_VERSION) {
      h.kill();
      throw new GlassboxError(`helper speaks protocol ${hello.version}, glassbox ${PROTOCOL_VERSION}: rebuild with npm run build`, { op: 'helper', code: 'EPROTO' });
    }
    return h;
  }

  get pid(): number {
    return this.child.pid!;
  }

  get initPid(): number | undefined {
    return this._initPid;
  }

  call<C extends Command>(cmd: C, args: Args<C>): Promise<Reply<C>> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
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
    if (this._initPid !== undefined && !this.initEnded) this.child.kill(signal === 'SIGKILL' ? KILL_INIT : signal);
    else this.child.kill(signal);
  }

  /** Kill the container and wait until the helper has exited; SIGKILL it if it will not. */
  async stop(graceMs = 2000): Promise<void> {
    if (this.gone) return;
    this.kill('SIGKILL');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.closed;
    clearTimeout(timer);
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

/** native/helper/protocol.h kSignalKillInit */
const KILL_INIT: NodeJS.Signals = 'SIGUSR2';

function signalNumber(s: NodeJS.Signals): number {
  return (constants.signals as Record<string, number>)[s] ?? 0;
}
