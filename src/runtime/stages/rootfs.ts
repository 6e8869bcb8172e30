// The container's root filesystem, built inside its own mount namespace (so
// the host never sees these mounts, and they vanish with the namespace):
// overlayfs of the image layers and the container's upper dir, then the
// kernel filesystems a Linux program expects, as runc's default spec mounts them.
import { basename } from 'node:path';
import { GlassboxError } from '../../util/errors.js';
import { detectCgroups } from '../cgroup/index.js';
import type { BatchItem, MountFlag } from '../helper/protocol.js';
import type { ContainerDirs, RunContext } from '../context.js';
import type { Stage } from '../stage.js';
import { hostIdOf } from '../userns.js';
import { startHostHelper } from './spawn.js';

const S_IFCHR = 0o020000;
const S_IFREG = 0o100000;

/** The devices of runc's default spec, as they are on every Linux host. */
const DEVICES: [string, number, number][] = [
  ['null', 1, 3],
  ['zero', 1, 5],
  ['full', 1, 7],
  ['random', 1, 8],
  ['urandom', 1, 9],
  ['tty', 5, 0],
];

const NOSUID_NODEV_NOEXEC: MountFlag[] = ['MS_NOSUID', 'MS_NODEV', 'MS_NOEXEC'];

/**
 * overlayfs options for these lower directories, given bottom layer first
 * (lowerdir lists the top one first). The kernel takes them as one page.
 */
export function overlayOptions(lower: readonly string[], d: ContainerDirs): string {
  const data = `lowerdir=${[...lower].reverse().join(':')},upperdir=${d.upper},workdir=${d.work}`;
  if (Buffer.byteLength(data) >= 4096) {
    throw new GlassboxError(`overlay options are ${Buffer.byteLength(data)} bytes, over the 4096 the kernel takes: the image has too many layers for full paths`, { op: 'rootfs', code: 'E2BIG' });
  }
  return data;
}

/**
 * --userns: the container's root may mount an overlay, but the layers' files
 * belong to the host's root, who is nobody in its namespace. So a second
 * helper, still in the host's user namespace, makes an idmapped copy of each
 * layer's mount (open_tree, mount_setattr MOUNT_ATTR_IDMAP with the
 * container's user namespace: host root's files show as the container
 * root's), joins the container's mount namespace, attaches them there
 * (move_mount) and mounts the overlay on them, as containerd and podman do.
 * The shared layers themselves are never changed. The upper and work dirs
 * belong to the container's root, so what it writes is its own.
 */
async function idmappedOverlay(ctx: RunContext): Promise<void> {
  const u = ctx.options.userns!;
  const d = ctx.dirs!;
  const layers = ctx.image!.layers;
  const data = overlayOptions(layers.map((_, i) => `${d.lower}/${i}`), d);
  const host = await startHostHelper(ctx, 'rootfs');
  try {
    for (const dir of [d.upper, d.work]) await host.call('chown', { path: dir, uid: hostIdOf(u.uid, 0)!, gid: hostIdOf(u.gid, 0)! });
    const fds: number[] = [];
    for (const layer of layers) fds.push((await host.call('open_tree', { path: layer, idmap: `/proc/${ctx.helper!.pid}/ns/user` })).fd);
    await host.call('setns', { pid: ctx.helper!.initPid ?? ctx.helper!.pid, types: ['mnt'] });
    for (let i = 0; i < fds.length; i++) await host.call('move_mount', { fd: fds[i]!, target: `${d.lower}/${i}` });
    await host.call('mount', { source: 'overlay', target: d.merged, fstype: 'overlay', data });
  } finally {
    await host.stop();
    await host.traced;
  }
}

/**
 * /sys/fs/cgroup as runc mounts it, read-only: inside the cgroup namespace
 * each hierarchy's root is the container's own cgroup, so the program reads
 * its own limits there. v2: one cgroup2 mount. v1 and hybrid: a tmpfs with
 * one mount per hierarchy (and the cgroup2 "unified" one on a hybrid host).
 */
function cgroupMounts(ctx: RunContext): BatchItem[] {
  const base = `${ctx.dirs!.merged}/sys/fs/cgroup`;
  const ro: MountFlag[] = [...NOSUID_NODEV_NOEXEC, 'MS_RDONLY'];
  const layout = detectCgroups();
  if (layout.mode === 'v2') return [{ cmd: 'mount', source: 'cgroup2', target: base, fstype: 'cgroup2', flags: ro }];
  const out: BatchItem[] = [{ cmd: 'mount', source: 'tmpfs', target: base, fstype: 'tmpfs', flags: NOSUID_NODEV_NOEXEC, data: 'mode=755' }];
  const byRoot = new Map<string, string[]>();
  for (const [controller, root] of Object.entries(layout.v1Roots)) byRoot.set(root, [...(byRoot.get(root) ?? []), controller]);
  for (const [root, controllers] of byRoot) {
    const target = `${base}/${basename(root)}`;
    out.push({ cmd: 'mkdir', path: target, mode: 0o755 }, { cmd: 'mount', source: 'cgroup', target, fstype: 'cgroup', flags: ro, data: controllers.join(',') });
  }
  if (layout.v2Root) {
    const target = `${base}/${basename(layout.v2Root)}`;
    out.push({ cmd: 'mkdir', path: target, mode: 0o755 }, { cmd: 'mount', source: 'cgroup2', target, fstype: 'cgroup2', flags: ro });
  }
  // The tmpfs itself read-only too, once its mount points exist.
  out.push({ cmd: 'mount', target: base, flags: ['MS_REMOUNT', 'MS_BIND', 'MS_RDONLY', ...NOSUID_NODEV_NOEXEC] });
  return out;
}

export const rootfsStage: Stage = {
  id: 'rootfs',
  title: 'Build the root filesystem',
  describe: (ctx) =>
    `make mounts private, mount overlay (${ctx.image?.layers.length ?? '?'} ${ctx.options.userns ? 'idmapped ' : ''}layers + upper) on merged/, then /proc, /sys, /sys/fs/cgroup, /dev, /dev/pts, /dev/shm, /dev/mqueue`,
  async run(ctx) {
    const h = ctx.helper!;
    const m = ctx.dirs!.merged;
    const userns = Boolean(ctx.options.userns);
    const data = userns ? undefined : overlayOptions(ctx.image!.layers, ctx.dirs!);
    // Nothing mounted from here on may propagate back to the host.
    const makePrivate: BatchItem = { cmd: 'mount', target: '/', flags: ['MS_REC', 'MS_PRIVATE'] };
    // One round trip for the rest of the stage: the shim makes each call in
    // this order and stops at the first that fails.
    const steps: BatchItem[] = [];
    if (userns) {
      await h.batch([makePrivate]);
      await idmappedOverlay(ctx);
    } else {
      steps.push(makePrivate, { cmd: 'mount', source: 'overlay', target: m, fstype: 'overlay', data });
    }
    const dir = (p: string, mode = 0o755): BatchItem => ({ cmd: 'mkdir', path: `${m}${p}`, mode });
    steps.push(
      dir('/proc', 0o555),
      { cmd: 'mount', source: 'proc', target: `${m}/proc`, fstype: 'proc', flags: NOSUID_NODEV_NOEXEC },
      dir('/sys', 0o555),
      { cmd: 'mount', source: 'sysfs', target: `${m}/sys`, fstype: 'sysfs', flags: [...NOSUID_NODEV_NOEXEC, 'MS_RDONLY'] },
      ...cgroupMounts(ctx),
      dir('/dev'),
      { cmd: 'mount', source: 'tmpfs', target: `${m}/dev`, fstype: 'tmpfs', flags: ['MS_NOSUID', 'MS_STRICTATIME'], data: 'mode=755,size=65536k' },
    );
    for (const [name, major, minor] of DEVICES) {
      if (userns) {
        // No mknod in a user namespace (a device node made there would not open anyway): the host's own node, bound on an empty file, as runc does.
        steps.push({ cmd: 'mknod', path: `${m}/dev/${name}`, mode: S_IFREG | 0o666 }, { cmd: 'mount', source: `/dev/${name}`, target: `${m}/dev/${name}`, flags: ['MS_BIND'] });
      } else {
        steps.push({ cmd: 'mknod', path: `${m}/dev/${name}`, mode: S_IFCHR | 0o666, major, minor });
      }
    }
    steps.push(
      dir('/dev/pts'),
      { cmd: 'mount', source: 'devpts', target: `${m}/dev/pts`, fstype: 'devpts', flags: ['MS_NOSUID', 'MS_NOEXEC'], data: 'newinstance,ptmxmode=0666,mode=0620,gid=5' },
      dir('/dev/shm', 0o1777),
      { cmd: 'mount', source: 'shm', target: `${m}/dev/shm`, fstype: 'tmpfs', flags: NOSUID_NODEV_NOEXEC, data: 'mode=1777,size=65536k' },
      dir('/dev/mqueue'),
      { cmd: 'mount', source: 'mqueue', target: `${m}/dev/mqueue`, fstype: 'mqueue', flags: NOSUID_NODEV_NOEXEC },
    );
    for (const [link, target] of [
      ['ptmx', 'pts/ptmx'],
      ['fd', '/proc/self/fd'],
      ['stdin', '/proc/self/fd/0'],
      ['stdout', '/proc/self/fd/1'],
      ['stderr', '/proc/self/fd/2'],
    ] as const) {
      steps.push({ cmd: 'symlink', target, path: `${m}/dev/${link}` });
    }
    await h.batch(steps);
  },
};

export const pivotStage: Stage = {
  id: 'pivot_root',
  title: 'Switch to the new root',
  describe: (ctx) => `pivot_root to ${ctx.dirs?.merged ?? 'merged/'} and detach the host's root from the container`,
  async run(ctx) {
    await ctx.helper!.call('pivot_root', { root: ctx.dirs!.merged });
  },
};
