// Processes: clone in both shapes, exec, wait, exit.
import {
  AT_FLAGS,
  CLONE_ARGS_SIZE_VER0,
  CLONE_ARGS_SIZE_VER1,
  CLONE_ARGS_SIZE_VER2,
  CLONE_FLAGS,
  CSIGNAL,
  PTRACE_EVENTS,
  WAIT_OPTIONS,
  WAITID_TYPES,
} from '../syscalls/constants.js';
import type { Call, Decoder } from './call.js';
import { flags, hex, MAX_STRLEN, ptr, splitFlags, stringText, u64 } from './format.js';
import { signame } from './signal.js';

const bit = (name: string): bigint => BigInt(CLONE_FLAGS.find(([n]) => n === name)?.[1] ?? 0);
const PARENT_SETTID = bit('CLONE_PARENT_SETTID');
const PIDFD = bit('CLONE_PIDFD');
const SETTLS = bit('CLONE_SETTLS');
const CHILD_TID = bit('CLONE_CHILD_SETTID') | bit('CLONE_CHILD_CLEARTID');
const INTO_CGROUP = bit('CLONE_INTO_CGROUP');

/** clone's flags: the names, leftover bits in hex, and the exit signal from the low byte last. */
function cloneFlags(v: bigint): string {
  const sig = Number(v & BigInt(CSIGNAL));
  const { names, rest } = splitFlags(v & ~BigInt(CSIGNAL), CLONE_FLAGS);
  if (rest !== 0n) names.push(hex(rest));
  if (sig !== 0) names.push(signame(sig));
  return names.length ? names.join('|') : '0';
}

/**
 * clone(child_stack=, flags=, parent_tid=, tls=, child_tidptr=) with only the
 * pointers the flags use. x86_64 passes child_tid before tls; arm64
 * (CLONE_BACKWARDS) the other way round.
 */
function clone(c: Call): string[] {
  const f = u64(c.arg(0));
  const [childTid, tls] = c.arch === 'arm64' ? [4, 3] : [3, 4];
  const out = [`child_stack=${c.ptr(1)}`, `flags=${cloneFlags(f)}`];
  if (f & (PARENT_SETTID | PIDFD)) out.push(`parent_tid=${c.intOut(2)}`);
  if (f & SETTLS) out.push(`tls=${c.hex(tls)}`);
  if (f & CHILD_TID) out.push(`child_tidptr=${c.hex(childTid)}`);
  return out;
}

/** clone3's struct clone_args, the fields strace shows for these flags and this size. */
function clone3(c: Call): string[] {
  const size = Number(u64(c.arg(1)));
  const b = c.capture(0);
  if (!b || size < CLONE_ARGS_SIZE_VER0 || b.length < CLONE_ARGS_SIZE_VER0) return [c.ptr(0), String(size)];
  const field = (i: number) => b.readBigUInt64LE(i * 8);
  const f = field(0);
  const out = [`flags=${flags(f, CLONE_FLAGS, 'CLONE_')}`];
  if (f & PIDFD) out.push(`pidfd=${ptr(field(1))}`);
  if (f & CHILD_TID) out.push(`child_tid=${ptr(field(2))}`);
  if (f & PARENT_SETTID) out.push(`parent_tid=${ptr(field(3))}`);
  out.push(`exit_signal=${signame(Number(BigInt.asIntN(32, field(4))))}`, `stack=${ptr(field(5))}`, `stack_size=${hex(field(6))}`);
  if (f & SETTLS) out.push(`tls=${hex(field(7))}`);
  if (size >= CLONE_ARGS_SIZE_VER1 && b.length >= CLONE_ARGS_SIZE_VER1 && (field(8) || field(9))) {
    out.push(`set_tid=${ptr(field(8))}`, `set_tid_size=${field(9)}`);
  }
  if (size >= CLONE_ARGS_SIZE_VER2 && b.length >= CLONE_ARGS_SIZE_VER2 && f & INTO_CGROUP) out.push(`cgroup=${field(10)}`);
  return [`{${out.join(', ')}}`, String(size)];
}

/** argv: ["ls", "-l"], each cut at 32 bytes, at most 32 of them. */
export function argvText(c: Call, i: number): string {
  const b = c.capture(i);
  if (c.arg(i) === 0) return 'NULL';
  if (!b) return c.ptr(i);
  const parts: Buffer[] = [];
  for (let start = 0; start < b.length; ) {
    const nul = b.indexOf(0, start);
    const end = nul < 0 ? b.length : nul;
    parts.push(b.subarray(start, end));
    start = end + 1;
  }
  const shown = parts.slice(0, MAX_STRLEN).map((p) => stringText(p));
  if (parts.length > MAX_STRLEN) shown.push('...');
  return `[${shown.join(', ')}]`;
}

/** A wait status as the W* macros read it. */
export function waitStatus(s: number): string {
  const low = s & 0x7f;
  if ((s & 0xff) === 0x7f) {
    const event = s >>> 16;
    const ev = event ? ` && s>>16 == ${PTRACE_EVENTS.find(([, v]) => v === event)?.[0] ?? event}` : '';
    return `{WIFSTOPPED(s) && WSTOPSIG(s) == ${signame((s >>> 8) & 0xff)}${ev}}`;
  }
  if (s === 0xffff) return '{WIFCONTINUED(s)}';
  if (low === 0) return `{WIFEXITED(s) && WEXITSTATUS(s) == ${(s >>> 8) & 0xff}}`;
  return `{WIFSIGNALED(s) && WTERMSIG(s) == ${signame(low)}${s & 0x80 ? ' && WCOREDUMP(s)' : ''}}`;
}

function wait4(c: Call): string[] {
  const b = c.capture(1);
  // The status is written only when a child was reaped (ret > 0).
  const status = b && b.length >= 4 && c.ret !== null && c.ret > 0 ? `[${waitStatus(b.readInt32LE(0))}]` : c.ptr(1);
  return [c.int(0), status, c.flags(2, WAIT_OPTIONS, 'W'), c.ptr(3)];
}

export const processDecoders: Record<string, Decoder> = {
  clone,
  clone3,
  execve: (c) => [c.path(0), argvText(c, 1), c.ptr(2)],
  execveat: (c) => [c.dirfd(0), c.path(1), argvText(c, 2), c.ptr(3), c.flags(4, AT_FLAGS, 'AT_')],
  wait4,
  waitid: (c) => [c.xval(0, WAITID_TYPES, 'P_'), c.int(1), c.ptr(2), c.flags(3, WAIT_OPTIONS, 'W'), c.ptr(4)],
  exit: (c) => [c.int(0)],
  exit_group: (c) => [c.int(0)],
};
