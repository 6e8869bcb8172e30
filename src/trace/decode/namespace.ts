// Namespaces and what they hold: unshare, setns, mount, umount2, pivot_root,
// the UTS names.
import { MOUNT_FLAGS, MS_MGC_MSK, MS_MGC_VAL, NAMESPACE_TYPES, UMOUNT_FLAGS, UNSHARE_FLAGS } from '../syscalls/constants.js';
import type { Call, Decoder } from './call.js';
import { flags, splitFlags, uint32 } from './format.js';

const msBit = (name: string) => MOUNT_FLAGS.find(([n]) => n === name)?.[1] ?? 0;
const MS_REMOUNT = msBit('MS_REMOUNT');
// With these the kernel ignores fstype and data, and strace prints them as pointers.
const IGNORES_TYPE_AND_DATA = ['MS_BIND', 'MS_MOVE', 'MS_SHARED', 'MS_PRIVATE', 'MS_SLAVE', 'MS_UNBINDABLE'].reduce((m, n) => m | msBit(n), 0);

/** Mount flags, with the old MS_MGC_VAL magic in the top half named first. */
export function mountFlags(v: number): string {
  let f = uint32(v);
  const names: string[] = [];
  if (((f & MS_MGC_MSK) >>> 0) === MS_MGC_VAL) {
    names.push('MS_MGC_VAL');
    f = (f & ~MS_MGC_MSK) >>> 0;
  }
  if (f !== 0 || names.length === 0) names.push(flags(f, MOUNT_FLAGS, 'MS_'));
  return names.join('|');
}

function mount(c: Call): string[] {
  let f = uint32(c.arg(3));
  if (((f & MS_MGC_MSK) >>> 0) === MS_MGC_VAL) f = (f & ~MS_MGC_MSK) >>> 0;
  const remount = (f & MS_REMOUNT) !== 0;
  const ignoreType = remount || (f & IGNORES_TYPE_AND_DATA) !== 0;
  const ignoreData = !remount && (f & IGNORES_TYPE_AND_DATA) !== 0;
  return [c.path(0), c.path(1), ignoreType ? c.ptr(2) : c.str(2), mountFlags(c.arg(3)), ignoreData ? c.ptr(4) : c.str(4)];
}

export const namespaceDecoders: Record<string, Decoder> = {
  unshare: (c) => [c.flags64(0, UNSHARE_FLAGS, 'CLONE_')],
  setns: (c) => [c.int(0), c.flags(1, NAMESPACE_TYPES, 'CLONE_')],
  mount,
  umount2: (c) => [c.path(0), c.flags(1, UMOUNT_FLAGS, 'MNT_')],
  pivot_root: (c) => [c.path(0), c.path(1)],
  // Not NUL-terminated: the length says where the name ends.
  sethostname: (c) => [c.bufIn(0, uint32(c.arg(1))), c.uint(1)],
  setdomainname: (c) => [c.bufIn(0, uint32(c.arg(1))), c.uint(1)],
};

/** The CLONE_NEW* names in a flags value: what a lesson says a call creates. */
export function namespacesIn(v: number | bigint): string[] {
  return splitFlags(v, NAMESPACE_TYPES).names;
}
