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

/** Builds SyscallColumns a syscall at a time. */
export class ColumnsBuilder {
  private texts: string[] = [];
  /** The texts so far, joined JOIN_LINES at a time. */
  private joined: string[] = [];
  private at = 0;
  private ends: number[] = [];
  private t: number[] = [];
  private pid: number[] = [];
  private kind: number[] = [];
  private name: number[] = [];
  private stage: number[] = [];
  private names = new Map<string, number>();
  private stages = new Map<string, number>();

  get count(): number {
    return this.ends.length;
  }

  add(e: SyscallEvent): void {
    const text = syscallText(e);
    this.texts.push(text);
    this.at += text.length;
    this.ends.push(this.at);
    if (this.texts.length === JOIN_LINES) {
      this.joined.push(this.texts.join(''));
      this.texts = [];
    }
    this.t.push(e.t);
    this.pid.push(e.pid);
    this.kind.push(syscallKind(e));
    this.name.push(intern(this.names, e.name));
    this.stage.push(intern(this.stages, e.stage));
  }

  /** The columns so far; the builder starts over empty. */
  take(): SyscallColumns {
    const c: SyscallColumns = {
      count: this.ends.length,
      text: this.joined.length ? this.joined.join('') + this.texts.join('') : this.texts.join(''),
      ends: new Uint32Array(this.ends),
      t: new Float64Array(this.t),
      pid: new Int32Array(this.pid),
      kind: new Uint8Array(this.kind),
      name: new Uint16Array(this.name),
      stage: new Uint16Array(this.stage),
      names: [...this.names.keys()],
      stages: [...this.stages.keys()],
    };
    this.texts = [];
    this.joined = [];
    this.at = 0;
    this.ends = [];
    this.t = [];
    this.pid = [];
    this.kind = [];
    this.name = [];
    this.stage = [];
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
