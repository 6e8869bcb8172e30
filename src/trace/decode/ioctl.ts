// ioctl: the request by name (or strace's _IOC(dir, type, nr, size)), and
// its argument as the request uses it.
import { IOCTLS } from '../syscalls/constants.js';
import type { Call, Decoder } from './call.js';
import { hex, lookup, uint32 } from './format.js';
import { signame } from './signal.js';

const NO_ARG = new Set([
  'TIOCNOTTY', 'TIOCEXCL', 'TIOCNXCL', 'TIOCCONS', 'TIOCSBRK', 'TIOCCBRK', 'TIOCVHANGUP', 'FIOCLEX', 'FIONCLEX',
  'NS_GET_USERNS', 'NS_GET_PARENT', 'NS_GET_NSTYPE',
]);
const INT_ARG = new Set(['TIOCSCTTY', 'TCSBRK', 'TCXONC', 'TCFLSH']);
const HEX_ARG = new Set(['TIOCGPTPEER']);
/** Requests whose argument points at one int: [N] once the call succeeded. */
const INT_PTR = new Set([
  'TIOCGPTN', 'TIOCSPTLCK', 'TIOCGPTLCK', 'TIOCGPGRP', 'TIOCSPGRP', 'TIOCGSID', 'FIONREAD', 'FIONBIO', 'FIOASYNC',
  'TIOCOUTQ', 'TIOCGETD', 'TIOCSETD', 'TIOCPKT', 'TIOCGPKT', 'TIOCGEXCL', 'TIOCMGET', 'TIOCMSET', 'NS_GET_OWNER_UID',
]);

const DIRS = ['_IOC_NONE', '_IOC_WRITE', '_IOC_READ', '_IOC_READ|_IOC_WRITE'];

/** An ioctl request: its name, or its encoding spelled out. */
export function ioctlRequest(v: number): string {
  const r = uint32(v);
  return lookup(IOCTLS, r) ?? `_IOC(${DIRS[r >>> 30]}, ${hex((r >>> 8) & 0xff)}, ${hex(r & 0xff)}, ${hex((r >>> 16) & 0x3fff)})`;
}

function ioctl(c: Call): string[] {
  const name = lookup(IOCTLS, uint32(c.arg(1)));
  const head = [c.int(0), ioctlRequest(c.arg(1))];
  if (name === undefined) return [...head, c.hex(2)];
  if (NO_ARG.has(name)) return head;
  if (INT_ARG.has(name)) return [...head, c.int(2)];
  if (HEX_ARG.has(name)) return [...head, c.hex(2)];
  if (name === 'TIOCSIG') return [...head, signame(c.arg(2))];
  if (INT_PTR.has(name)) return [...head, c.intOut(2)];
  return [...head, c.ptr(2)];
}

export const ioctlDecoders: Record<string, Decoder> = { ioctl };
