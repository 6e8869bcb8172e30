// Memory: mmap and friends (addresses in hex, protections and map flags by name).
import { MAP_FLAGS, MAP_HUGE_MASK, MAP_HUGE_SHIFT, MAP_TYPE, MAP_TYPES, PROT_FLAGS, type Xlat } from '../syscalls/constants.js';
import type { Arch } from '../syscalls/index.js';
import type { Decoder } from './call.js';
import { flags, hex, lookup, splitFlags, u64 } from './format.js';

// MAP_32BIT is x86's alone (arch/x86/include/uapi/asm/mman.h).
const MAP_FLAGS_ARM64: Xlat = MAP_FLAGS.filter(([n]) => n !== 'MAP_32BIT');

/** The mapping type, its flags, leftover bits, and the huge page size as N<<MAP_HUGE_SHIFT. */
export function mapFlags(v: number, arch: Arch): string {
  const f = u64(v);
  const type = Number(f & BigInt(MAP_TYPE));
  const huge = Number((f >> BigInt(MAP_HUGE_SHIFT)) & BigInt(MAP_HUGE_MASK));
  const rest = f & ~BigInt(MAP_TYPE) & ~(BigInt(MAP_HUGE_MASK) << BigInt(MAP_HUGE_SHIFT));
  const { names, rest: left } = splitFlags(rest, arch === 'arm64' ? MAP_FLAGS_ARM64 : MAP_FLAGS);
  const out = [lookup(MAP_TYPES, type) ?? `${hex(type)} /* MAP_??? */`, ...names];
  if (left) out.push(hex(left));
  if (huge) out.push(`${huge}<<MAP_HUGE_SHIFT`);
  return out.join('|');
}

const prot = (v: number) => flags(Number(u64(v) & 0xffffffffn), PROT_FLAGS, 'PROT_', 'PROT_NONE');

export const memoryDecoders: Record<string, Decoder> = {
  mmap: (c) => [c.ptr(0), c.ulong(1), prot(c.arg(2)), mapFlags(c.arg(3), c.arch), c.int(4), c.hex(5)],
  mprotect: (c) => [c.ptr(0), c.ulong(1), prot(c.arg(2))],
  pkey_mprotect: (c) => [c.ptr(0), c.ulong(1), prot(c.arg(2)), c.int(3)],
  munmap: (c) => [c.ptr(0), c.ulong(1)],
  brk: (c) => [c.ptr(0)],
  madvise: (c) => [c.ptr(0), c.ulong(1), c.int(2)],
  mremap: (c) => [c.ptr(0), c.ulong(1), c.ulong(2), c.hex(3), c.ptr(4)],
  mlock: (c) => [c.ptr(0), c.ulong(1)],
  munlock: (c) => [c.ptr(0), c.ulong(1)],
  msync: (c) => [c.ptr(0), c.ulong(1), c.int(2)],
};
