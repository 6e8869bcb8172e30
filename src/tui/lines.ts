// A syscall as a line of the stream: its strace-form text, and the columns a
// log keeps of it. Small and free of the TUI, so the replay loader's worker
// thread (src/tui/load-worker.ts) builds the same lines the model does.
import type { SyscallEvent } from '../events/schema.js';

/** What a line of the stream is. */
export const LINE_OK = 0;
export const LINE_ERR = 1;
/** The call never returned (exit_group, a thread killed inside it). */
export const LINE_NORET = 2;
export const LINE_STDOUT = 3;
export const LINE_STDERR = 4;

export function syscallKind(e: SyscallEvent): number {
  return e.err ? LINE_ERR : e.ret === null ? LINE_NORET : LINE_OK;
}

/** strace's form: `openat(AT_FDCWD, "/etc/passwd", O_RDONLY) = -1 ENOENT <0.000012>`. */
export function syscallText(e: SyscallEvent): string {
  const ret = e.ret === null ? '?' : e.err ? `-1 ${e.err}` : String(e.ret);
  return `${e.name}(${e.args.join(', ')}) = ${ret} <${seconds(e.dur)}>`;
}

const ZEROS = ['', '0', '00', '000', '0000', '00000'];

/** µs as seconds to the µs, as toFixed(6) says it; a whole number under a second (nearly every call) without it, 3 times faster. */
function seconds(us: number): string {
  if (us >= 0 && us < 1e6 && Number.isInteger(us)) {
    const d = String(us);
    return `0.${ZEROS[6 - d.length]}${d}`;
  }
  return (us / 1e6).toFixed(6);
}

/**
 * A run of syscall lines as columns: every text joined in one string (line
 * k's text ends at `ends[k]`), names and stages as indexes into this run's
 * own `names` and `stages`. What the loader's worker sends; a SyscallLog
 * takes it whole (appendSyscalls).
 */
export interface SyscallColumns {
  count: number;
  text: string;
  ends: Uint32Array;
  t: Float64Array;
  pid: Int32Array;
  kind: Uint8Array;
  name: Uint16Array;
  stage: Uint16Array;
  names: string[];
  stages: string[];
}

/** Texts joined into one string this many at a time: a few hundred small strings alive at once, not thousands. */
const JOIN_LINES = 256;

/**
 * Builds SyscallColumns a syscall at a time, into typed arrays it keeps
 * (outside the heap: nothing for a garbage collection to copy), sliced out
 * by take.
 */
export class ColumnsBuilder {
  private texts: string[] = [];
  /** The texts so far, joined JOIN_LINES at a time. */
  private joined: string[] = [];
  private at = 0;
  private n = 0;
  private ends = new Uint32Array(1024);
  private t = new Float64Array(1024);
  private pid = new Int32Array(1024);
  private kind = new Uint8Array(1024);
  private name = new Uint16Array(1024);
  private stage = new Uint16Array(1024);
  private names = new Map<string, number>();
  private stages = new Map<string, number>();

  get count(): number {
    return this.n;
  }

  add(e: SyscallEvent): void {
    const text = syscallText(e);
    this.texts.push(text);
    this.at += text.length;
    if (this.texts.length === JOIN_LINES) {
      this.joined.push(this.texts.join(''));
      this.texts = [];
    }
    const i = this.n++;
    if (i === this.t.length) this.grow();
    this.ends[i] = this.at;
    this.t[i] = e.t;
    this.pid[i] = e.pid;
    this.kind[i] = syscallKind(e);
    this.name[i] = intern(this.names, e.name);
    this.stage[i] = intern(this.stages, e.stage);
  }

  private grow(): void {
    const more = <T extends Uint32Array | Float64Array | Int32Array | Uint16Array | Uint8Array>(a: T, b: T): T => {
      b.set(a as never);
      return b;
    };
    const size = this.t.length * 2;
    this.ends = more(this.ends, new Uint32Array(size));
    this.t = more(this.t, new Float64Array(size));
    this.pid = more(this.pid, new Int32Array(size));
    this.kind = more(this.kind, new Uint8Array(size));
    this.name = more(this.name, new Uint16Array(size));
    this.stage = more(this.stage, new Uint16Array(size));
  }

  /** The columns so far; the builder starts over empty. */
  take(): SyscallColumns {
    const n = this.n;
    const c: SyscallColumns = {
      count: n,
      text: this.joined.length ? this.joined.join('') + this.texts.join('') : this.texts.join(''),
      ends: this.ends.slice(0, n),
      t: this.t.slice(0, n),
      pid: this.pid.slice(0, n),
      kind: this.kind.slice(0, n),
      name: this.name.slice(0, n),
      stage: this.stage.slice(0, n),
      names: [...this.names.keys()],
      stages: [...this.stages.keys()],
    };
    this.texts = [];
    this.joined = [];
    this.at = 0;
    this.n = 0;
    this.names = new Map();
    this.stages = new Map();
    return c;
  }
}

function intern(m: Map<string, number>, s: string): number {
  let i = m.get(s);
  if (i === undefined) {
    i = m.size;
    m.set(s, i);
  }
  return i;
}
