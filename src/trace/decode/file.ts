// Files and descriptors: open, read, write, stat, the *at calls, fcntl.
import {
  ACCESS_MODES,
  AT_FLAGS,
  AT_STATX_SYNC_TYPE,
  CLOSE_RANGE_FLAGS,
  DNOTIFY_FLAGS,
  FACCESSAT_FLAGS,
  FCNTL_CMDS,
  FD_FLAGS,
  FILE_TYPES,
  MODE_BITS,
  O_ACCMODE,
  O_CREAT,
  O_TMPFILE,
  OPEN_ACCMODE,
  OPEN_FLAGS,
  OPEN_FLAGS_ARM64,
  S_IFBLK,
  S_IFCHR,
  S_IFMT,
  SEAL_FLAGS,
  SEEK_WHENCE,
  STATX_MASK,
  STATX_SYNC,
  type Xlat,
} from '../syscalls/constants.js';
import type { Arch } from '../syscalls/index.js';
import { type Call, type Decoder } from './call.js';
import { flags, hex, lookup, octal, pathText, splitFlags, uint32, xval } from './format.js';

const openFlagTable = (arch: Arch): Xlat => (arch === 'arm64' ? OPEN_FLAGS_ARM64 : OPEN_FLAGS);

/** Open flags: the access mode, then the flags (fcntl F_SETFL and open alike). */
export function openFlags(v: number, arch: Arch): string {
  const f = uint32(v);
  const mode = lookup(OPEN_ACCMODE, f & O_ACCMODE)!;
  const { names, rest } = splitFlags((f & ~O_ACCMODE) >>> 0, openFlagTable(arch));
  if (rest !== 0n) names.push(hex(rest));
  return [mode, ...names].join('|');
}

/** Flags without an access mode (pipe2, dup3, ...). */
const oFlags = (v: number, arch: Arch) => flags(uint32(v), openFlagTable(arch), 'O_');

/** open's mode argument only means something when the call may create a file. */
const createsFile = (v: number) => (uint32(v) & O_CREAT) !== 0 || (uint32(v) & O_TMPFILE) === O_TMPFILE;

/** mknod's mode: the file type by name, set-id bits by name, permissions in octal. */
export function symbolicMode(v: number): string {
  const m = uint32(v);
  const type = lookup(FILE_TYPES, m & S_IFMT);
  if (type === undefined) return octal(m);
  const bits = splitFlags(m & 0o7000, MODE_BITS).names;
  return [type, ...bits, octal(m & 0o777)].join('|');
}

/** The kernel's dev_t of mknod (32 bits): makedev(major, minor). */
export function makedev(v: number): string {
  const d = uint32(v);
  const major = (d >>> 8) & 0xfff;
  const minor = (d & 0xff) | ((d >>> 12) & 0xfff00);
  return `makedev(${hex(major)}, ${hex(minor)})`;
}

const hasDevice = (mode: number) => {
  const t = uint32(mode) & S_IFMT;
  return t === S_IFCHR || t === S_IFBLK;
};

function statxFlags(v: number): string {
  const f = uint32(v);
  const sync = f & AT_STATX_SYNC_TYPE;
  const syncText = lookup(STATX_SYNC, sync) ?? flags(sync, STATX_SYNC, 'AT_STATX_');
  const rest = (f & ~AT_STATX_SYNC_TYPE) >>> 0;
  return rest === 0 ? syncText : `${syncText}|${flags(rest, AT_FLAGS, 'AT_')}`;
}

function fcntlArgs(c: Call): string[] {
  const cmd = uint32(c.arg(1));
  const name = lookup(FCNTL_CMDS, cmd);
  const head = [c.int(0), xval(cmd, FCNTL_CMDS, 'F_')];
  switch (name) {
    case 'F_GETFD': case 'F_GETFL': case 'F_GETOWN': case 'F_GETSIG': case 'F_GETLEASE': case 'F_GETPIPE_SZ': case 'F_GET_SEALS':
      return head;
    case 'F_SETFD':
      return [...head, c.flags(2, FD_FLAGS, 'FD_')];
    case 'F_SETFL':
      return [...head, openFlags(c.arg(2), c.arch)];
    case 'F_DUPFD': case 'F_DUPFD_CLOEXEC': case 'F_SETOWN': case 'F_SETSIG': case 'F_SETPIPE_SZ': case 'F_SETLEASE':
      return [...head, c.int(2)];
    case 'F_ADD_SEALS':
      return [...head, c.flags(2, SEAL_FLAGS, 'F_SEAL_')];
    case 'F_NOTIFY':
      return [...head, c.flags(2, DNOTIFY_FLAGS, 'DN_')];
    case undefined:
      return [...head, c.hex(2)];
    default:
      return [...head, c.ptr(2)];
  }
}

export const fileDecoders: Record<string, Decoder> = {
  open: (c) => [c.path(0), openFlags(c.arg(1), c.arch), ...(createsFile(c.arg(1)) ? [c.octal(2)] : [])],
  openat: (c) => [c.dirfd(0), c.path(1), openFlags(c.arg(2), c.arch), ...(createsFile(c.arg(2)) ? [c.octal(3)] : [])],
  creat: (c) => [c.path(0), c.octal(1)],
  openat2: (c) => [c.dirfd(0), c.path(1), c.ptr(2), c.ulong(3)],
  read: (c) => [c.int(0), c.bufOut(1), c.ulong(2)],
  pread64: (c) => [c.int(0), c.bufOut(1), c.ulong(2), c.long(3)],
  write: (c) => [c.int(0), c.bufIn(1, c.arg(2)), c.ulong(2)],
  pwrite64: (c) => [c.int(0), c.bufIn(1, c.arg(2)), c.ulong(2), c.long(3)],
  close: (c) => [c.int(0)],
  close_range: (c) => [c.uint(0), c.uint(1), c.flags(2, CLOSE_RANGE_FLAGS, 'CLOSE_RANGE_')],
  dup: (c) => [c.int(0)],
  dup2: (c) => [c.int(0), c.int(1)],
  dup3: (c) => [c.int(0), c.int(1), oFlags(c.arg(2), c.arch)],
  pipe: (c) => [pair(c, 0)],
  pipe2: (c) => [pair(c, 0), oFlags(c.arg(1), c.arch)],
  fcntl: fcntlArgs,
  lseek: (c) => [c.int(0), c.long(1), c.xval(2, SEEK_WHENCE, 'SEEK_')],
  access: (c) => [c.path(0), c.flags(1, ACCESS_MODES, '', 'F_OK')],
  faccessat: (c) => [c.dirfd(0), c.path(1), c.flags(2, ACCESS_MODES, '', 'F_OK')],
  faccessat2: (c) => [c.dirfd(0), c.path(1), c.flags(2, ACCESS_MODES, '', 'F_OK'), c.flags(3, FACCESSAT_FLAGS, 'AT_')],
  stat: (c) => [c.path(0), c.ptr(1)],
  lstat: (c) => [c.path(0), c.ptr(1)],
  fstat: (c) => [c.int(0), c.ptr(1)],
  newfstatat: (c) => [c.dirfd(0), c.path(1), c.ptr(2), c.flags(3, AT_FLAGS, 'AT_')],
  statx: (c) => [c.dirfd(0), c.path(1), statxFlags(c.arg(2)), c.flags(3, STATX_MASK, 'STATX_'), c.ptr(4)],
  getdents64: (c) => [c.int(0), c.ptr(1), c.uint(2)],
  unlinkat: (c) => [c.dirfd(0), c.path(1), c.flags(2, AT_FLAGS, 'AT_')],
  mkdir: (c) => [c.path(0), c.octal(1)],
  mkdirat: (c) => [c.dirfd(0), c.path(1), c.octal(2)],
  mknod: (c) => [c.path(0), symbolicMode(c.arg(1)), ...(hasDevice(c.arg(1)) ? [makedev(c.arg(2))] : [])],
  mknodat: (c) => [c.dirfd(0), c.path(1), symbolicMode(c.arg(2)), ...(hasDevice(c.arg(2)) ? [makedev(c.arg(3))] : [])],
  symlink: (c) => [c.path(0), c.path(1)],
  symlinkat: (c) => [c.path(0), c.dirfd(1), c.path(2)],
  chdir: (c) => [c.path(0)],
  chroot: (c) => [c.path(0)],
  fchdir: (c) => [c.int(0)],
  readlink: (c) => [c.path(0), c.bufOut(1), c.int(2)],
  readlinkat: (c) => [c.dirfd(0), c.path(1), c.bufOut(2), c.int(3)],
  getcwd: (c) => {
    const b = c.capture(0);
    return [b && c.ok ? pathText(b) : c.ptr(0), c.ulong(1)];
  },
  umask: (c) => [c.octal(0)],
};

/** int[2] the call filled: [3, 4]. */
export function pair(c: Call, i: number): string {
  const b = c.capture(i);
  return b && b.length >= 8 && c.ok ? `[${b.readInt32LE(0)}, ${b.readInt32LE(4)}]` : c.ptr(i);
}
