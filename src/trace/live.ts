// From the native tracer's batches to syscall events. The addon hands over
// records of 16 numbers and a buffer of what it read from the tracees
// (native/src/tracer.cc); here they are named, decoded and tagged with their
// stage, then go into the run's one event stream.
import type { EventSink, SyscallEvent } from '../events/schema.js';
import type { TraceHooks } from '../runtime/helper/live.js';
import { decodeArgs, decodeRet, type RawSyscall } from './decode/index.js';
import { captureTable } from './syscalls/capture.js';
import { LESSON_SYSCALLS, syscallNames, syscallNumber, traceArch } from './syscalls/index.js';

export { traceArch };

export type TraceMode = 'full' | 'lesson' | 'off';

/** The record layout of native/src/tracer.cc. */
const REC = 16;
const F = { t: 0, dur: 1, pid: 2, tid: 3, nr: 4, stage: 5, ret: 6, a0: 7, capOff: 13, capLen: 14, flags: 15 } as const;
const HAS_RET = 1;
const TRUNC_SHIFT = 8;
/** Capture.Fd in src/trace/syscalls/capture.ts */
const CAPTURE_FD = 11;


/**
 * Tracer hooks for a helper: syscalls become events on `sink`, tagged with
 * stages[i] for the index the engine last set (before the first, `first`).
 */
export function traceHooks(mode: 'full' | 'lesson', stages: readonly string[], first: string, sink: EventSink): TraceHooks {
  const arch = traceArch();
  const names = syscallNames(arch);
  const lesson = LESSON_SYSCALLS.map((n) => syscallNumber(arch, n)).filter((n): n is number => n !== undefined);
  return {
    mode,
    capture: mode === 'full' ? fullModeCapture(arch, lesson) : captureTable(arch),
    lesson,
    execNrs: ['execve', 'execveat'].map((n) => syscallNumber(arch, n)).filter((n): n is number => n !== undefined),
    onBatch(records, data) {
      for (let i = 0; i + REC <= records.length; i += REC) sink(toEvent(records, i, data, names, stages, first));
    },
  };
}

/** Reads, whose file (a cgroup or /proc file, say) a trace names in full mode too. */
const READS = ['read', 'pread64', 'readv', 'preadv', 'preadv2'];

/**
 * Full mode reads the file behind a descriptor (a readlink of
 * /proc/PID/fd/N at the call's entry) for the calls the lessons explain and
 * for reads, not for every call that takes one: strace -f resolves none
 * without -y, and a readlink at every close, fstat, dup2 and fcntl was the
 * tenth of a fork-heavy run that put full mode behind it.
 */
function fullModeCapture(arch: ReturnType<typeof traceArch>, lesson: readonly number[]): Uint8Array {
  const t = Uint8Array.from(captureTable(arch));
  const keep = new Set([...lesson, ...READS.map((n) => syscallNumber(arch, n)).filter((n): n is number => n !== undefined)]);
  for (let i = 0; i < t.length; i++) if (t[i] === CAPTURE_FD && !keep.has(Math.floor(i / 6))) t[i] = 0;
  return t;
}

function toEvent(r: Float64Array, i: number, data: Buffer, names: readonly (string | undefined)[], stages: readonly string[], first: string): SyscallEvent {
  const nr = r[i + F.nr]!;
  const flags = r[i + F.flags]!;
  const returned = (flags & HAS_RET) !== 0;
  const captures: (Buffer | undefined)[] = [undefined, undefined, undefined, undefined, undefined, undefined];
  let fd: string | undefined;
  // Captures: [arg u8][kind u8][len u32 LE][bytes], one after another.
  const end = r[i + F.capOff]! + r[i + F.capLen]!;
  for (let off = r[i + F.capOff]!; off + 6 <= end; ) {
    const arg = data[off]!;
    const kind = data[off + 1]!;
    const len = data.readUInt32LE(off + 2);
    const bytes = data.subarray(off + 6, off + 6 + len);
    off += 6 + len;
    if (kind === CAPTURE_FD) fd ??= bytes.toString('utf8');
    else captures[arg] = bytes;
  }
  const name = names[nr] ?? '';
  const raw: RawSyscall = {
    name,
    nr,
    args: [r[i + F.a0]!, r[i + F.a0 + 1]!, r[i + F.a0 + 2]!, r[i + F.a0 + 3]!, r[i + F.a0 + 4]!, r[i + F.a0 + 5]!],
    ret: returned ? r[i + F.ret]! : null,
    captures,
    truncated: flags >>> TRUNC_SHIFT,
  };
  const ret = decodeRet(name, raw.ret);
  const stageIndex = r[i + F.stage]!;
  const e: SyscallEvent = {
    kind: 'syscall',
    t: r[i + F.t]! / 1000,
    pid: r[i + F.pid]!,
    tid: r[i + F.tid]!,
    stage: stageIndex >= 0 ? (stages[stageIndex] ?? first) : first,
    nr,
    name: name || `syscall_${nr}`,
    args: decodeArgs(raw),
    ret: ret.ret,
    dur: r[i + F.dur]!,
  };
  if (ret.err) e.err = ret.err;
  if (fd !== undefined) e.fd = fd;
  return e;
}
