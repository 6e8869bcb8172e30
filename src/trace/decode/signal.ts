// Signals: kill and friends, handlers and masks (the structs stay pointers).
import { SIGNALS, SIGPROCMASK_HOW, SIGRTMIN } from '../syscalls/constants.js';
import type { Decoder } from './call.js';
import { int32, lookup } from './format.js';

const NSIG_KERNEL = 64;

/** A signal number as strace names it: SIGKILL, SIGRT_2 (real-time, counted from the kernel's 32), or the number. */
export function signame(sig: number): string {
  const s = int32(sig);
  if (s > 0 && s < SIGRTMIN) return lookup(SIGNALS, s) ?? String(s);
  if (s >= SIGRTMIN && s <= NSIG_KERNEL) return `SIGRT_${s - SIGRTMIN}`;
  return String(s);
}

export const signalDecoders: Record<string, Decoder> = {
  kill: (c) => [c.int(0), signame(c.arg(1))],
  tkill: (c) => [c.int(0), signame(c.arg(1))],
  tgkill: (c) => [c.int(0), c.int(1), signame(c.arg(2))],
  rt_sigaction: (c) => [signame(c.arg(0)), c.ptr(1), c.ptr(2), c.ulong(3)],
  rt_sigprocmask: (c) => [c.xval(0, SIGPROCMASK_HOW, 'SIG_'), c.ptr(1), c.ptr(2), c.ulong(3)],
  pidfd_send_signal: (c) => [c.int(0), signame(c.arg(1)), c.ptr(2), c.uint(3)],
};
