// One recorded call, with its arguments readable as the C types they were.
import { arch as hostArch } from 'node:os';
import { AT_FDCWD, type Xlat } from '../syscalls/constants.js';
import type { Arch } from '../syscalls/index.js';
import { bufferText, flags, hex, int32, long, octal, pathText, ptr, stringText, uint32, ulong, xval } from './format.js';

export interface RawSyscall {
  /** From the table; '' when the number is unknown (print it as syscall_0x1c4). */
  name: string;
  nr: number;
  /** The 6 argument registers, int64 as JS numbers. */
  args: number[];
  /** The raw return value (negative errno on failure); null if the call never returned. */
  ret: number | null;
  /**
   * What the tracer read, by argument index (src/trace/syscalls/capture.ts):
   * StrV as the strings each followed by a NUL, MsgHdr as u32 name length,
   * name, u32 data length, data; IntPair 8 bytes, IntOut 4 (little endian).
   */
  captures: (Buffer | undefined)[];
  /** Bit i set when capture i was cut at the tracer's cap. */
  truncated?: number;
  /** The traced machine; the host's when absent (a replay sets it from the trace header). */
  arch?: Arch;
}

export type Decoder = (c: Call) => string[];

const host: Arch = hostArch() === 'arm64' ? 'arm64' : 'x64';

export class Call {
  readonly arch: Arch;

  constructor(readonly raw: RawSyscall) {
    this.arch = raw.arch ?? host;
  }

  get ret(): number | null {
    return this.raw.ret;
  }

  /** The call returned without an error. */
  get ok(): boolean {
    return this.raw.ret !== null && (this.raw.ret >= 0 || this.raw.ret < -4095);
  }

  arg(i: number): number {
    return this.raw.args[i] ?? 0;
  }

  capture(i: number): Buffer | undefined {
    return this.raw.captures[i];
  }

  cut(i: number): boolean {
    return ((this.raw.truncated ?? 0) & (1 << i)) !== 0;
  }

  int(i: number): string {
    return String(int32(this.arg(i)));
  }

  uint(i: number): string {
    return String(uint32(this.arg(i)));
  }

  long(i: number): string {
    return long(this.arg(i));
  }

  ulong(i: number): string {
    return ulong(this.arg(i));
  }

  hex(i: number): string {
    return hex(this.arg(i));
  }

  ptr(i: number): string {
    return ptr(this.arg(i));
  }

  octal(i: number): string {
    return octal(uint32(this.arg(i)));
  }

  /** A directory descriptor of the *at calls. */
  dirfd(i: number): string {
    const fd = int32(this.arg(i));
    return fd === AT_FDCWD ? 'AT_FDCWD' : String(fd);
  }

  /** A path: the captured string, uncut by -s. */
  path(i: number): string {
    const b = this.capture(i);
    if (this.arg(i) === 0) return 'NULL';
    return b ? pathText(b, this.cut(i)) : this.ptr(i);
  }

  /** A NUL-terminated string other than a path: cut after 32 bytes. */
  str(i: number): string {
    const b = this.capture(i);
    if (this.arg(i) === 0) return 'NULL';
    return b ? stringText(b, this.cut(i)) : this.ptr(i);
  }

  /** A buffer the caller filled, `len` bytes long. */
  bufIn(i: number, len: number): string {
    const b = this.capture(i);
    if (this.arg(i) === 0) return 'NULL';
    return b ? bufferText(b, len) : this.ptr(i);
  }

  /** A buffer the call filled, as long as it returned. */
  bufOut(i: number): string {
    const b = this.capture(i);
    if (!b || !this.ok || this.ret === null) return this.ptr(i);
    return bufferText(b, this.ret);
  }

  /** An int the call wrote at the pointer: [N] once it has, the pointer otherwise. */
  intOut(i: number): string {
    const b = this.capture(i);
    return b && b.length >= 4 && this.ok ? `[${b.readInt32LE(0)}]` : this.ptr(i);
  }

  /** Flags of an int argument (the low 32 bits). */
  flags(i: number, table: Xlat, prefix: string, zero?: string): string {
    return flags(uint32(this.arg(i)), table, prefix, zero);
  }

  /** Flags of an unsigned long argument. */
  flags64(i: number, table: Xlat, prefix: string, zero?: string): string {
    return flags(this.arg(i), table, prefix, zero);
  }

  /** A named value of an int argument. */
  xval(i: number, table: Xlat, prefix: string): string {
    return xval(uint32(this.arg(i)), table, prefix);
  }
}
