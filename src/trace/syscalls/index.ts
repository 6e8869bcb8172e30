// Syscall knowledge as data: names by number per architecture, classes for
// the UI's filters, and the set the lessons stop on. The tables are generated
// (generate.ts); this file only looks things up in them.
import { NAMES as ARM64 } from './aarch64.js';
import { SIGNATURES } from './signatures.js';
import { NAMES as X64 } from './x86_64.js';

/** Node's names for the two architectures the tracer knows. */
export type Arch = 'x64' | 'arm64';

export type SyscallClass = 'file' | 'desc' | 'process' | 'network' | 'ipc' | 'signal' | 'memory' | 'creds' | 'namespace' | 'other';

export function syscallNames(arch: Arch): readonly (string | undefined)[] {
  return arch === 'arm64' ? ARM64 : X64;
}

const numbers = new Map<Arch, Map<string, number>>();

/** undefined when the architecture has no such call (open and fork on arm64). */
export function syscallNumber(arch: Arch, name: string): number | undefined {
  let m = numbers.get(arch);
  if (!m) {
    m = new Map();
    syscallNames(arch).forEach((n, i) => n !== undefined && m!.set(n, i));
    numbers.set(arch, m);
  }
  return m.get(name);
}

/** The tracer's architecture for a machine name as uname or os.arch() spells it. */
/** This machine's architecture, which the tracer and the seccomp filter need; an error on any other. */
export function traceArch(): Arch {
  const a = archOf(process.arch);
  if (!a) throw new Error(`the tracer knows x86_64 and aarch64 syscalls, not ${process.arch}`);
  return a;
}

export function archOf(machine: string): Arch | undefined {
  if (machine === 'x86_64' || machine === 'x64' || machine === 'amd64') return 'x64';
  if (machine === 'aarch64' || machine === 'arm64') return 'arm64';
  return undefined;
}

/**
 * What `--trace lesson` stops on (seccomp-bpf lets everything else run at
 * full speed): the calls the lessons show, from making the namespaces to the
 * container's exec, and the cgroup and uid_map writes. read is left out on
 * purpose: it is most of a program's calls and no lesson is about it.
 */
export const LESSON_SYSCALLS: readonly string[] = [
  'clone', 'clone3', 'fork', 'vfork', 'unshare', 'setns',
  'mount', 'umount2', 'pivot_root', 'chroot', 'chdir', 'fchdir', 'open_tree', 'move_mount', 'mount_setattr', 'lchown', 'fchownat',
  'mkdir', 'mkdirat', 'mknod', 'mknodat', 'symlink', 'symlinkat',
  'open', 'openat', 'openat2', 'write',
  'sethostname', 'setdomainname',
  'execve', 'execveat',
  'capset', 'prctl', 'seccomp', 'bpf', 'setuid', 'setgid', 'setgroups', 'setresuid', 'setresgid',
  'socket', 'bind', 'sendmsg', 'sendto', 'ioctl',
  'kill', 'tgkill', 'wait4', 'waitid', 'exit', 'exit_group',
];

// Classes are strace's (-e trace=%file, %desc, %process, %network, %ipc,
// %signal, %memory, %creds) plus one of ours: namespace, for what makes,
// enters or reshapes namespaces. A call gets one class, the first that
// applies in this order: namespace, then the hand-kept lists below, then file
// (it takes a path) and desc (it takes a descriptor), from its signature.
const NAMESPACE = new Set([
  'unshare', 'setns', 'pivot_root', 'mount', 'umount2',
  'fsopen', 'fsconfig', 'fsmount', 'fspick', 'move_mount', 'open_tree', 'mount_setattr',
]);
const CLONES = new Set(['clone', 'clone3']);
const PROCESS = new Set([
  'clone', 'clone3', 'fork', 'vfork', 'execve', 'execveat', 'exit', 'exit_group', 'wait4', 'waitid',
  'getpid', 'getppid', 'gettid', 'getpgid', 'setpgid', 'getpgrp', 'getsid', 'setsid', 'set_tid_address',
  'set_robust_list', 'get_robust_list', 'arch_prctl', 'ptrace', 'prlimit64', 'getrlimit', 'setrlimit',
  'getpriority', 'setpriority', 'personality', 'kcmp', 'pidfd_open', 'pidfd_getfd', 'rseq',
  'sched_setaffinity', 'sched_getaffinity', 'sched_yield', 'sched_setscheduler', 'sched_getscheduler',
  'sched_setparam', 'sched_getparam', 'sched_setattr', 'sched_getattr', 'getrusage', 'times',
]);
const NETWORK = new Set([
  'socket', 'socketpair', 'bind', 'connect', 'listen', 'accept', 'accept4', 'getsockname', 'getpeername',
  'sendto', 'recvfrom', 'sendmsg', 'recvmsg', 'sendmmsg', 'recvmmsg', 'shutdown', 'setsockopt', 'getsockopt',
]);
const IPC = new Set([
  'msgget', 'msgsnd', 'msgrcv', 'msgctl', 'semget', 'semop', 'semtimedop', 'semctl', 'shmget', 'shmat', 'shmdt', 'shmctl',
]);
const SIGNAL = new Set(['kill', 'tkill', 'tgkill', 'pause', 'pidfd_send_signal', 'sigaltstack', 'signalfd', 'signalfd4', 'restart_syscall']);
const MEMORY = new Set([
  'mmap', 'munmap', 'mprotect', 'mremap', 'brk', 'madvise', 'mlock', 'mlock2', 'munlock', 'mlockall', 'munlockall',
  'mincore', 'msync', 'remap_file_pages', 'mbind', 'set_mempolicy', 'get_mempolicy', 'migrate_pages', 'move_pages',
  'pkey_mprotect', 'pkey_alloc', 'pkey_free', 'memfd_secret', 'process_madvise', 'process_mrelease',
  'set_mempolicy_home_node', 'map_shadow_stack', 'mseal',
]);
// strace's %creds, and the other calls that change what a process may do.
const CREDS = new Set([
  'getuid', 'geteuid', 'getgid', 'getegid', 'setuid', 'setgid', 'setreuid', 'setregid', 'setresuid', 'setresgid',
  'getresuid', 'getresgid', 'setfsuid', 'setfsgid', 'getgroups', 'setgroups', 'capget', 'capset', 'prctl', 'seccomp',
  'landlock_create_ruleset', 'landlock_add_rule', 'landlock_restrict_self',
]);

/**
 * The class a call belongs to. clone and clone3 are 'process', or
 * 'namespace' when their decoded arguments (an event's `args`) ask for a new
 * namespace (CLONE_NEW*).
 */
export function classOf(name: string, args?: readonly string[]): SyscallClass {
  if (NAMESPACE.has(name)) return 'namespace';
  if (CLONES.has(name) && args?.some((a) => a.includes('CLONE_NEW'))) return 'namespace';
  if (PROCESS.has(name)) return 'process';
  if (NETWORK.has(name)) return 'network';
  if (IPC.has(name) || name.startsWith('mq_')) return 'ipc';
  if (SIGNAL.has(name) || name.startsWith('rt_sig')) return 'signal';
  if (MEMORY.has(name)) return 'memory';
  if (CREDS.has(name)) return 'creds';
  const sig = SIGNATURES[name];
  if (sig?.includes('s')) return 'file';
  if (sig !== undefined && /[fa]/.test(sig)) return 'desc';
  return 'other';
}

/** strace's name for a number the table does not know. */
export function unknownSyscallName(nr: number): string {
  return `syscall_0x${nr.toString(16)}`;
}
