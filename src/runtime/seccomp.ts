// The container's syscall filter: what Docker's default seccomp profile keeps
// from a container, as a deny list (docker's own is an allow list of about
// 350 calls; the calls it leaves out are the ones its documentation names,
// "Significant syscalls blocked by the default profile"). The helper turns
// it into BPF (native/helper/shim.cc InstallSeccomp).
import type { Args } from './helper/protocol.js';
import { syscallNumber, traceArch } from '../trace/syscalls/index.js';

/** Refused with EPERM: kernel modules, clocks, keyrings, accounting, swap, reboot, NUMA policy, and making or entering namespaces and mounts. */
export const DENIED = [
  'acct',
  'add_key',
  'bpf',
  'clock_adjtime',
  'clock_settime',
  'create_module',
  'delete_module',
  'finit_module',
  'get_kernel_syms',
  'get_mempolicy',
  'init_module',
  'ioperm',
  'iopl',
  'kcmp',
  'kexec_file_load',
  'kexec_load',
  'keyctl',
  'lookup_dcookie',
  'mbind',
  'mount',
  'move_pages',
  'name_to_handle_at',
  'nfsservctl',
  'open_by_handle_at',
  'perf_event_open',
  'pivot_root',
  'query_module',
  'quotactl',
  'reboot',
  'request_key',
  'set_mempolicy',
  'setns',
  'settimeofday',
  'stime',
  'swapon',
  'swapoff',
  'sysfs',
  '_sysctl',
  'umount',
  'umount2',
  'unshare',
  'uselib',
  'userfaultfd',
  'ustat',
  'vm86',
  'vm86old',
  // The new mount API and io_uring: not in docker's allow list either.
  'fsopen',
  'fsconfig',
  'fsmount',
  'fspick',
  'move_mount',
  'open_tree',
  'mount_setattr',
  'io_uring_setup',
  'io_uring_enter',
  'io_uring_register',
] as const;

/** ENOSYS rather than EPERM: clone3's flags are in memory a filter cannot read, so libc must fall back to clone, whose flags it can (docker does the same). */
export const NOT_IMPLEMENTED = ['clone3'] as const;

/** clone with any of these flags is refused: CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET. */
export const CLONE_NS_MASK = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000;

export function seccompProfile(): Args<'seccomp'> {
  const arch = traceArch();
  const nrs = (names: readonly string[]) => names.map((n) => syscallNumber(arch, n)).filter((n): n is number => n !== undefined);
  return { deny: nrs(DENIED), enosys: nrs(NOT_IMPLEMENTED), clone: syscallNumber(arch, 'clone') ?? -1, nsMask: CLONE_NS_MASK };
}
