// A trace as `strace -f -tt -T` prints it, so strace readers and tools read it:
//   [pid  1234] 12:34:56.123456 openat(AT_FDCWD, "/etc/passwd", O_RDONLY) = 3 <0.000012>
// Times are local wall-clock time as strace prints them: the TZ variable,
// else /etc/localtime, else UTC (Node and glibc agree on that order).
// The tracer records each call whole at its exit, so interleaved calls are
// never split into strace's "<unfinished ...>" and "<... resumed>" halves;
// lines come in the order the calls ended, each with its entry time.
import os from 'node:os';
import util from 'node:util';
import type { GlassboxEvent, SyscallEvent } from '../../events/schema.js';

/** strace's column for " = ", counted from the start of the line. */
const RESULT_COLUMN = 40;

/** Calls whose return value is an address, printed in hex as strace does. */
const HEX_RETURNS = new Set(['brk', 'mmap', 'mmap2', 'mremap', 'shmat']);

/**
 * glibc's strerror wording where libuv's (util.getSystemErrorMap) differs or
 * has none: strace prints glibc's. Names and numbers come from Node.
 */
const GLIBC_WORDING: Record<string, string> = {
  EADDRNOTAVAIL: 'Cannot assign requested address',
  EAFNOSUPPORT: 'Address family not supported by protocol',
  EALREADY: 'Operation already in progress',
  EBUSY: 'Device or resource busy',
  EEXIST: 'File exists',
  EFAULT: 'Bad address',
  EHOSTUNREACH: 'No route to host',
  EILSEQ: 'Invalid or incomplete multibyte or wide character',
  EIO: 'Input/output error',
  EISCONN: 'Transport endpoint is already connected',
  EISDIR: 'Is a directory',
  ELOOP: 'Too many levels of symbolic links',
  ENAMETOOLONG: 'File name too long',
  ENFILE: 'Too many open files in system',
  ENOMEM: 'Cannot allocate memory',
  ENOTCONN: 'Transport endpoint is not connected',
  ENOTSUP: 'Operation not supported',
  EOPNOTSUPP: 'Operation not supported',
  ERANGE: 'Numerical result out of range',
  ESPIPE: 'Illegal seek',
  ETXTBSY: 'Text file busy',
  EXDEV: 'Invalid cross-device link',
  ECHILD: 'No child processes',
  ENOEXEC: 'Exec format error',
  EINPROGRESS: 'Operation now in progress',
  EDQUOT: 'Disk quota exceeded',
  ESTALE: 'Stale file handle',
  EDOM: 'Numerical argument out of domain',
  ENOLCK: 'No locks available',
  ENOMSG: 'No message of desired type',
  EIDRM: 'Identifier removed',
  ETIME: 'Timer expired',
  EBADMSG: 'Bad message',
  EOWNERDEAD: 'Owner died',
  ENOKEY: 'Required key not available',
  EUSERS: 'Too many users',
  ENOTBLK: 'Block device required',
  EBADFD: 'File descriptor in bad state',
  // Kernel-internal, seen only by a tracer: strace's own words.
  ERESTARTSYS: 'To be restarted if SA_RESTART is set',
  ERESTARTNOINTR: 'To be restarted',
  ERESTARTNOHAND: 'To be restarted if no handler',
  ERESTART_RESTARTBLOCK: 'Interrupted by signal',
};

let libuvWording: Map<string, string> | undefined;

/** "No such file or directory" for ENOENT, as strace prints it; undefined for a name nobody knows. */
export function errnoText(name: string): string | undefined {
  if (GLIBC_WORDING[name]) return GLIBC_WORDING[name];
  if (!libuvWording) {
    libuvWording = new Map();
    for (const [, [n, msg]] of util.getSystemErrorMap()) libuvWording.set(n, msg.charAt(0).toUpperCase() + msg.slice(1));
  }
  const known = libuvWording.get(name);
  if (known) return known;
  const nr = (os.constants.errno as Record<string, number>)[name];
  return nr === undefined ? undefined : `Unknown error ${nr}`;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** "12:34:56.123456": local time of t (ms since the epoch, µs in the fraction), strace -tt. */
export function clockTime(t: number): string {
  const us = Math.round(t * 1000);
  const sec = Math.floor(us / 1e6);
  const d = new Date(sec * 1000);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(us - sec * 1e6, 6)}`;
}

/** "<0.000012>": a duration in µs, strace -T. */
export function straceDuration(us: number): string {
  const u = Math.max(0, Math.round(us));
  return `<${Math.floor(u / 1e6)}.${pad(u % 1e6, 6)}>`;
}

/** "= 3", "= 0x55d0c3e2a000", "= -1 ENOENT (No such file or directory)", "= ?". */
export function straceResult(e: SyscallEvent): string {
  if (e.ret === null) return '= ?';
  if (e.err) {
    const text = errnoText(e.err);
    return `= ${e.ret} ${e.err}${text ? ` (${text})` : ''}`;
  }
  if (HEX_RETURNS.has(e.name) && e.ret > 0) return `= 0x${e.ret.toString(16)}`;
  return `= ${e.ret}`;
}

/** "openat(AT_FDCWD, \"/etc/passwd\", O_RDONLY)". */
export function straceCall(e: SyscallEvent): string {
  return `${e.name}(${e.args.join(', ')})`;
}

/** One whole strace -f -tt -T line, without the newline; a call that never returned has no duration, as in strace. */
export function straceLine(e: SyscallEvent): string {
  const head = `[pid ${String(e.tid).padStart(5)}] ${clockTime(e.t)} ${straceCall(e)} `;
  return `${head.padEnd(RESULT_COLUMN)}${straceResult(e)}${e.ret === null ? '' : ` ${straceDuration(e.dur)}`}`;
}

/** Lines joined into chunks of about this many characters for the writer. */
const CHUNK_CHARS = 64 * 1024;

/**
 * The strace text of a trace, in chunks: syscall lines, and "+++ exited
 * with N +++" after a process's exit_group as strace prints it. The other
 * events have no strace form and are left out.
 */
export async function* straceText(events: AsyncIterable<GlassboxEvent> | Iterable<GlassboxEvent>): AsyncGenerator<string, void, undefined> {
  let buf = '';
  for await (const e of events) {
    if (e.kind !== 'syscall') continue;
    buf += `${straceLine(e)}\n`;
    if (e.name === 'exit_group' && e.ret === null && /^-?\d+$/.test(e.args[0] ?? '')) {
      buf += `[pid ${String(e.tid).padStart(5)}] ${clockTime(e.t + e.dur / 1000)} +++ exited with ${Number(e.args[0]) & 0xff} +++\n`;
    }
    if (buf.length >= CHUNK_CHARS) {
      yield buf;
      buf = '';
    }
  }
  if (buf) yield buf;
}
