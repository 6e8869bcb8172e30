// The calls every dynamically linked program makes before main: the loader's
// and libc's (arch_prctl, rseq, prlimit64, getrandom, futex).
import {
  ARCH_PRCTL_CODES,
  FUTEX_BITSET_MATCH_ANY,
  FUTEX_CLOCK_REALTIME,
  FUTEX_OPS,
  FUTEX_PRIVATE_FLAG,
  GRND_FLAGS,
  RLIMITS,
} from '../syscalls/constants.js';
import type { Call, Decoder } from './call.js';
import { hex, lookup, MAX_STRLEN, quoteHex, uint32 } from './format.js';

/** futex's op: the command, _PRIVATE, |FUTEX_CLOCK_REALTIME. */
function futexOp(op: number): { cmd: string | undefined; text: string } {
  const cmd = lookup(FUTEX_OPS, op & ~(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME));
  if (cmd === undefined) return { cmd, text: `${hex(op)} /* FUTEX_??? */` };
  const name = cmd + (op & FUTEX_PRIVATE_FLAG ? '_PRIVATE' : '');
  return { cmd, text: op & FUTEX_CLOCK_REALTIME ? `${name}|FUTEX_CLOCK_REALTIME` : name };
}

function futex(c: Call): string[] {
  const { cmd, text } = futexOp(uint32(c.arg(1)));
  const head = [c.ptr(0), text];
  const bitset = () => (uint32(c.arg(5)) === FUTEX_BITSET_MATCH_ANY ? 'FUTEX_BITSET_MATCH_ANY' : hex(uint32(c.arg(5))));
  switch (cmd) {
    case 'FUTEX_WAIT':
      return [...head, c.uint(2), c.ptr(3)];
    case 'FUTEX_WAIT_BITSET':
      return [...head, c.uint(2), c.ptr(3), bitset()];
    case 'FUTEX_WAKE':
      return [...head, c.int(2)];
    case 'FUTEX_WAKE_BITSET':
      return [...head, c.int(2), bitset()];
    case 'FUTEX_REQUEUE':
      return [...head, c.int(2), c.uint(3), c.ptr(4)];
    case 'FUTEX_CMP_REQUEUE':
      return [...head, c.int(2), c.uint(3), c.ptr(4), c.uint(5)];
    case 'FUTEX_UNLOCK_PI':
      return head;
    default:
      return [...head, c.uint(2), c.hex(3), c.ptr(4), c.hex(5)];
  }
}

/** getrandom's bytes: random, so strace shows them all in hex. */
function getrandom(c: Call): string[] {
  const b = c.capture(0);
  const ret = c.ret ?? 0;
  const buf = b && c.ok ? quoteHex(b.subarray(0, Math.min(ret, MAX_STRLEN))) + (ret > MAX_STRLEN ? '...' : '') : c.ptr(0);
  return [buf, c.ulong(1), c.flags(2, GRND_FLAGS, 'GRND_')];
}

export const startupDecoders: Record<string, Decoder> = {
  arch_prctl: (c) => [c.xval(0, ARCH_PRCTL_CODES, 'ARCH_'), c.hex(1)],
  rseq: (c) => [c.ptr(0), c.hex(1), c.hex(2), c.hex(3)],
  prlimit64: (c) => [c.int(0), c.xval(1, RLIMITS, 'RLIMIT_'), c.ptr(2), c.ptr(3)],
  getrandom,
  futex,
};
