// What the native tracer reads from a tracee's memory, per argument: the
// contract with native/src/tracer.cc, which reads nothing this table does not
// ask for. The numbers are shared with the C++ side; never renumber them.
import { type Arch, syscallNames } from './index.js';
import { SIGNATURES } from './signatures.js';

export const enum Capture {
  None = 0,
  /** NUL-terminated string at the pointer, at entry (paths, fstype, mount data). Arrives without its NUL. */
  Str = 1,
  /** NULL-terminated char*[] at entry (execve's argv): the strings, each followed by a NUL. */
  StrV = 2,
  /** Bytes at the pointer, as many as the next argument says, at entry (write, sendto, sethostname). */
  BufIn = 3,
  /** Bytes the call filled, as many as it returned, at exit (read, readlink). */
  BufOut = 4,
  /** struct sockaddr, as long as the next argument says (at most 128), at entry. */
  SockAddr = 5,
  /** struct msghdr at entry: u32 name length, the name, u32 length of the first iovec's bytes, those bytes (LE). */
  MsgHdr = 6,
  /** struct clone_args, as long as the next argument says (at most 88), at entry. */
  CloneArgs = 7,
  /** capset's two struct __user_cap_data_struct (24 bytes), at entry. */
  CapData = 8,
  /** int[2] the call filled, at exit (pipe2, socketpair). */
  IntPair = 9,
  /** One int the call filled, at exit (wait4's status, clone's parent_tid, an ioctl's int). */
  IntOut = 10,
  /** A descriptor: the tracer records the file /proc says is behind it. */
  Fd = 11,
}

const None = Capture.None;
const Str = Capture.Str;
const StrV = Capture.StrV;
const BufIn = Capture.BufIn;
const BufOut = Capture.BufOut;
const SockAddr = Capture.SockAddr;
const MsgHdr = Capture.MsgHdr;
const CloneArgs = Capture.CloneArgs;
const CapData = Capture.CapData;
const IntPair = Capture.IntPair;
const IntOut = Capture.IntOut;
const Fd = Capture.Fd;

// Calls whose arguments the signatures alone do not describe. Everything else
// gets Str on its path arguments and Fd on its first descriptor, from the
// generated signatures (kinds 's', and 'f' or 'a').
const BY_NAME: Readonly<Record<string, readonly Capture[]>> = {
  read: [Fd, BufOut],
  pread64: [Fd, BufOut],
  write: [Fd, BufIn],
  pwrite64: [Fd, BufIn],
  readlink: [Str, BufOut],
  readlinkat: [Fd, Str, BufOut],
  // struct mount_attr, usize bytes: --userns's MOUNT_ATTR_IDMAP and the user namespace it maps through.
  mount_setattr: [Fd, Str, None, BufIn, None],
  getcwd: [BufOut],
  getrandom: [BufOut],
  execve: [Str, StrV],
  execveat: [Fd, Str, StrV],
  // Not NUL-terminated: the length says where the name ends.
  sethostname: [BufIn],
  setdomainname: [BufIn],
  // fstype and data are void* in the kernel's signature; strace prints them as strings.
  mount: [Str, Str, Str, None, Str],
  bind: [Fd, SockAddr],
  connect: [Fd, SockAddr],
  sendto: [Fd, BufIn, None, None, SockAddr],
  sendmsg: [Fd, MsgHdr],
  clone: [None, None, IntOut],
  clone3: [CloneArgs],
  capset: [None, CapData],
  pipe: [IntPair],
  pipe2: [IntPair],
  socketpair: [None, None, None, IntPair],
  wait4: [None, IntOut],
  ioctl: [Fd, None, IntOut],
};

const tables = new Map<Arch, Uint8Array>();

/** One byte per argument, 6 per syscall number: what the tracer reads for argument i of syscall nr. */
export function captureTable(arch: Arch): Uint8Array {
  let t = tables.get(arch);
  if (t) return t;
  const names = syscallNames(arch);
  t = new Uint8Array(6 * names.length);
  names.forEach((name, nr) => {
    if (name === undefined) return;
    const codes = BY_NAME[name] ?? fromSignature(SIGNATURES[name] ?? '');
    codes.forEach((c, i) => (t![nr * 6 + i] = c));
  });
  tables.set(arch, t);
  return t;
}

function fromSignature(sig: string): Capture[] {
  const codes: Capture[] = [];
  let fd = false;
  for (const k of sig) {
    if (k === 's') codes.push(Str);
    else if ((k === 'f' || k === 'a') && !fd) {
      codes.push(Fd);
      fd = true;
    } else codes.push(None);
  }
  return codes;
}

/** The capture codes of one call by name, for tests and for the decoders. */
export function capturesOf(name: string): readonly Capture[] {
  return BY_NAME[name] ?? fromSignature(SIGNATURES[name] ?? '');
}
