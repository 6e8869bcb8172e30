// Namespaces and what they hold: unshare, setns, mount, umount2, pivot_root,
// the UTS names.
import { AT_FLAGS, MOUNT_ATTR_FLAGS, MOUNT_FLAGS, MOVE_MOUNT_FLAGS, MS_MGC_MSK, MS_MGC_VAL, NAMESPACE_TYPES, OPEN_TREE_FLAGS, UMOUNT_FLAGS, UNSHARE_FLAGS } from '../syscalls/constants.js';
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

/** struct mount_attr as strace prints it: {attr_set=MOUNT_ATTR_IDMAP, attr_clr=0, propagation=0, userns_fd=5}. */
function mountAttr(c: Call, i: number): string {
  const b = c.capture(i);
  if (c.arg(i) === 0) return 'NULL';
  if (!b || b.length < 32) return c.ptr(i);
  const u64 = (off: number) => b.readBigUInt64LE(off);
  const propagation = u64(16);
  return `{attr_set=${flags(u64(0), MOUNT_ATTR_FLAGS, 'MOUNT_ATTR_')}, attr_clr=${flags(u64(8), MOUNT_ATTR_FLAGS, 'MOUNT_ATTR_')}, propagation=${propagation === 0n ? '0' : flags(propagation, MOUNT_FLAGS, 'MS_')}, userns_fd=${u64(24)}}`;
}

export const namespaceDecoders: Record<string, Decoder> = {
  open_tree: (c) => [c.dirfd(0), c.path(1), c.flags(2, OPEN_TREE_FLAGS, 'OPEN_TREE_')],
  move_mount: (c) => [c.dirfd(0), c.path(1), c.dirfd(2), c.path(3), c.flags(4, MOVE_MOUNT_FLAGS, 'MOVE_MOUNT_')],
  mount_setattr: (c) => [c.dirfd(0), c.path(1), c.flags(2, AT_FLAGS, 'AT_'), mountAttr(c, 3), c.uint(4)],
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
