// Return values as strace ends a line: "= 3", "= -1 ENOENT (No such file or
// directory)", "= 0x7f3c2a000000", "= ?".
import { ERRNO, FCNTL_CMDS, FD_FLAGS, PRCTL_OPTIONS, SECUREBITS, SUID_DUMP } from '../syscalls/constants.js';
import { Call, type RawSyscall } from './call.js';
import { openFlags } from './file.js';
import { flags, hex, lookup, octal, uint32, xval } from './format.js';

/** Calls that return an address. */
const ADDRESS = new Set(['mmap', 'mremap', 'brk', 'shmat']);

/**
 * The kernel's restart codes (include/linux/errno.h): a signal interrupted the
 * call and the program never sees them; strace prints them after "?".
 */
const RESTART: Record<number, [name: string, message: string]> = {
  512: ['ERESTARTSYS', 'To be restarted if SA_RESTART is set'],
  513: ['ERESTARTNOINTR', 'To be restarted'],
  514: ['ERESTARTNOHAND', 'To be restarted if no handler'],
  515: ['ENOIOCTLCMD', 'No ioctl command'],
  516: ['ERESTART_RESTARTBLOCK', 'Interrupted by signal'],
};

export interface DecodedRet {
  /** The value the program saw: -1 on failure, null when it never returned (or will be restarted). */
  ret: number | null;
  /** The errno name on failure. */
  err?: string;
  /** What strace prints after "= ". */
  text: string;
}

/**
 * What strace adds after some results, knowing the arguments:
 * fcntl(F_GETFL) = 0x802 (flags O_RDWR|O_NONBLOCK).
 */
function annotated(name: string, ret: number, s: RawSyscall): string | undefined {
  const c = new Call(s);
  if (name === 'fcntl') {
    const cmd = lookup(FCNTL_CMDS, uint32(c.arg(1)));
    if (cmd === 'F_GETFL') return `${hex(ret)} (flags ${openFlags(ret, c.arch)})`;
    if (cmd === 'F_GETFD' && ret) return `${hex(ret)} (flags ${flags(ret, FD_FLAGS, 'FD_')})`;
  }
  if (name === 'prctl') {
    const option = lookup(PRCTL_OPTIONS, uint32(c.arg(0)));
    if (option === 'PR_GET_DUMPABLE') return `${ret} (${xval(ret, SUID_DUMP, 'SUID_DUMP_')})`;
    if (option === 'PR_GET_SECUREBITS' && ret) return `${hex(ret)} (${flags(ret, SECUREBITS, 'SECBIT_')})`;
  }
  return undefined;
}

/** The result as strace prints it; with the call, the notes strace adds for some (fcntl F_GETFL's flags). */
export function decodeRet(name: string, ret: number | null, call?: RawSyscall): DecodedRet {
  if (ret === null) return { ret: null, text: '?' };
  if (ret < 0 && ret >= -4095) {
    const errno = -ret;
    const restart = RESTART[errno];
    if (restart) return { ret: null, err: restart[0], text: `? ${restart[0]} (${restart[1]})` };
    const [err, message] = ERRNO[errno] ?? [`E${errno}`, `Unknown error ${errno}`];
    return { ret: -1, err, text: `-1 ${err} (${message})` };
  }
  const note = call && annotated(name, ret, call);
  if (note) return { ret, text: note };
  if (ADDRESS.has(name)) return { ret, text: hex(ret) };
  if (name === 'umask') return { ret, text: octal(ret) };
  return { ret, text: String(ret) };
}
