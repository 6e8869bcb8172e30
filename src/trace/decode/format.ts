// How strace writes numbers, flags, named values and strings. Register values
// arrive as int64 converted to JS numbers; these helpers read them as the C
// type of the argument.
import { type Xlat } from '../syscalls/constants.js';

/** strace's default -s: strings are cut after this many bytes. */
export const MAX_STRLEN = 32;

/** An int argument: the low 32 bits, signed (AT_FDCWD arrives as -100 or 4294967196). */
export const int32 = (x: number): number => x | 0;
/** An unsigned int argument. */
export const uint32 = (x: number): number => x >>> 0;

/** The register as the unsigned 64-bit value it was. */
export function u64(x: number | bigint): bigint {
  return BigInt.asUintN(64, typeof x === 'bigint' ? x : BigInt(Math.trunc(x)));
}

/** The register as a signed 64-bit value. */
export function s64(x: number): bigint {
  return BigInt.asIntN(64, BigInt(Math.trunc(x)));
}

/** %#lx: "0" for zero, "0x..." otherwise. */
export function hex(x: number | bigint): string {
  const v = u64(x);
  return v === 0n ? '0' : `0x${v.toString(16)}`;
}

/** A pointer: NULL or its address. */
export function ptr(x: number | bigint): string {
  return u64(x) === 0n ? 'NULL' : hex(x);
}

/** %#03o: a mode as strace prints it (0644, 022, 000). */
export function octal(v: number): string {
  return (v === 0 ? '0' : `0${v.toString(8)}`).padStart(3, '0');
}

/** %u of an unsigned long. */
export const ulong = (x: number): string => u64(x).toString();
/** %ld of a long. */
export const long = (x: number): string => s64(x).toString();

/** A uid or gid: -1 stays -1 (the "unchanged" of setresuid), others unsigned. */
export function id(x: number): string {
  const v = uint32(x);
  return v === 0xffffffff ? '-1' : String(v);
}

const bigTables = new WeakMap<Xlat, readonly (readonly [string, bigint])[]>();
const byValue = new WeakMap<Xlat, Map<number, string>>();

function big(table: Xlat): readonly (readonly [string, bigint])[] {
  let b = bigTables.get(table);
  if (!b) {
    b = table.map(([n, v]) => [n, BigInt(v)] as const);
    bigTables.set(table, b);
  }
  return b;
}

/** The name of a value in a value table, or undefined. */
export function lookup(table: Xlat, v: number): string | undefined {
  let m = byValue.get(table);
  if (!m) {
    m = new Map();
    for (const [n, val] of table) if (!m.has(val)) m.set(val, n);
    byValue.set(table, m);
  }
  return m.get(v);
}

/**
 * A named value: its name, or hex with strace's hint of the prefix it would
 * have ("0x9 /* P_??? *\/").
 */
export function xval(v: number, table: Xlat, prefix: string): string {
  return lookup(table, v) ?? `${hex(v)} /* ${prefix}??? */`;
}

/**
 * The names of the set bits, in the table's order, each taking its bits
 * away (so composites listed first win); bits no name explains follow in hex.
 * Nothing known: hex with the prefix hint; zero: `zero`.
 */
export function flags(v: number | bigint, table: Xlat, prefix: string, zero = '0'): string {
  const { names, rest } = splitFlags(v, table);
  if (names.length === 0) return rest === 0n ? zero : `${hex(rest)} /* ${prefix}??? */`;
  if (rest !== 0n) names.push(hex(rest));
  return names.join('|');
}

/** The known names and the leftover bits, for callers that add their own parts. */
export function splitFlags(v: number | bigint, table: Xlat): { names: string[]; rest: bigint } {
  let rest = u64(v);
  const names: string[] = [];
  for (const [name, bit] of big(table)) {
    if (bit !== 0n && (rest & bit) === bit) {
      names.push(name);
      rest &= ~bit;
    }
  }
  return { names, rest };
}

/** strace's quoting: C escapes, octal for the rest, three digits when a digit follows. */
export function quote(bytes: Uint8Array, n = bytes.length): string {
  let out = '"';
  for (let i = 0; i < n; i++) {
    const c = bytes[i]!;
    switch (c) {
      case 0x22: out += '\\"'; break;
      case 0x5c: out += '\\\\'; break;
      case 0x0c: out += '\\f'; break;
      case 0x0a: out += '\\n'; break;
      case 0x0d: out += '\\r'; break;
      case 0x09: out += '\\t'; break;
      case 0x0b: out += '\\v'; break;
      default:
        if (c >= 0x20 && c < 0x7f) out += String.fromCharCode(c);
        else {
          const next = i + 1 < n ? bytes[i + 1]! : 0;
          const o = c.toString(8);
          out += '\\' + (next >= 0x30 && next <= 0x37 ? o.padStart(3, '0') : o);
        }
    }
  }
  return out + '"';
}

/** Every byte as \xNN (strace's QUOTE_FORCE_HEX, for netlink payloads it cannot name). */
export function quoteHex(bytes: Uint8Array): string {
  let out = '"';
  for (const b of bytes) out += `\\x${b.toString(16).padStart(2, '0')}`;
  return out + '"';
}

/**
 * A buffer of `len` bytes of which `bytes` were captured: at most MAX_STRLEN
 * printed, "..." when the call's buffer was longer than what is shown.
 */
export function bufferText(bytes: Uint8Array, len: number): string {
  const shown = Math.min(len, MAX_STRLEN, bytes.length);
  return quote(bytes, shown) + (len > shown ? '...' : '');
}

/** A NUL-terminated string: cut after MAX_STRLEN bytes (or by the tracer) with "...". */
export function stringText(bytes: Uint8Array, cut = false): string {
  const nul = bytes.indexOf(0);
  const s = nul >= 0 ? bytes.subarray(0, nul) : bytes;
  if (s.length > MAX_STRLEN) return quote(s, MAX_STRLEN) + '...';
  return quote(s) + (cut ? '...' : '');
}

/** A path: never cut by -s (strace prints up to PATH_MAX), "..." only if the tracer cut it. */
export function pathText(bytes: Uint8Array, cut = false): string {
  const nul = bytes.indexOf(0);
  return quote(nul >= 0 ? bytes.subarray(0, nul) : bytes) + (cut ? '...' : '');
}
