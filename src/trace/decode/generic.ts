// Calls without a decoder of their own: each argument printed as its kernel
// type says (the generated signatures), or all six in hex when even that is
// unknown, as strace does for a number it cannot name.
import { SIGNATURES } from '../syscalls/signatures.js';
import type { Call } from './call.js';
import { id, octal, uint32 } from './format.js';

export function genericArgs(c: Call, name: string): string[] {
  const sig = SIGNATURES[name];
  if (sig === undefined) return [0, 1, 2, 3, 4, 5].map((i) => c.hex(i));
  return [...sig].map((kind, i) => {
    switch (kind) {
      case 's': return c.path(i);
      case 'p': return c.ptr(i);
      case 'a': return c.dirfd(i);
      case 'f': case 'i': return c.int(i);
      case 'u': return c.uint(i);
      case 'g': return id(c.arg(i));
      case 'l': return c.long(i);
      case 'o': return octal(uint32(c.arg(i)));
      default: return c.ulong(i);
    }
  });
}
