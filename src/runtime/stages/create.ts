// The container's own directory: the overlay's upper and work dirs, its
// mount point, and an OCI runtime config.json that says what will be built.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import { exitCodeOf, type RunContext } from '../context.js';
import { GlassboxError } from '../../util/errors.js';
import { listContainers, self, updateState, writeState } from '../state.js';
import { refuseHostNetwork } from '../userns.js';
import type { Stage } from '../stage.js';

/** The process the container runs: image config merged with the flags, as docker merges them. */
export function processSpec(ctx: RunContext): { args: string[]; env: string[]; cwd: string } {
  const c = ctx.image!.config.config ?? {};
  const o = ctx.options;
  const entry = o.entrypoint ?? c.Entrypoint ?? [];
  const cmd = o.command && o.command.length > 0 ? o.command : o.entrypoint ? [] : (c.Cmd ?? []);
  const env = new Map<string, string>();
  for (const e of [`PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`, `HOSTNAME=${hostnameOf(ctx)}`, ...(c.Env ?? []), ...(o.env ?? [])]) {
    const i = e.indexOf('=');
    env.set(i === -1 ? e : e.slice(0, i), e);
  }
  return { args: [...entry, ...cmd], env: [...env.values()], cwd: o.workdir ?? (c.WorkingDir || '/') };
}

export function hostnameOf(ctx: RunContext): string {
  return ctx.options.hostname ?? ctx.id.slice(0, 12);
}

export const createStage: Stage = {
  id: 'create',
  title: 'Create the container',
  describe: () => 'make the container directory (upper, work, merged) and its OCI config.json',
  async run(ctx) {
    const userns = ctx.options.userns;
    refuseHostNetwork(userns, ctx.options.network, 'create');
    ctx.id = randomBytes(32).toString('hex');
    const root = join(ctx.store.root, 'containers', ctx.id);
    const dirs = { root, upper: join(root, 'upper'), work: join(root, 'work'), merged: join(root, 'merged'), lower: join(root, 'lower') };
    fs.mkdirSync(join(ctx.store.root, 'containers'), { recursive: true, mode: 0o700 });
    if (userns) {
      // Above the store, glassbox changes nothing: it says what is in the way.
      for (let dir = dirname(ctx.store.root); ; dir = dirname(dir)) {
        if ((fs.statSync(dir).mode & 0o001) === 0) {
          throw new GlassboxError(`--userns: the container's root, a host user of its own, cannot pass through ${dir} (mode ${(fs.statSync(dir).mode & 0o777).toString(8)}) to its root filesystem: chmod o+x it, or choose another --root`, { op: 'create', code: 'EACCES' });
        }
        if (dir === dirname(dir)) break;
      }
      // The container's root (a host ID of its own) walks down to its root
      // filesystem by path when it mounts /proc and the rest: the store and
      // containers/ let it through without listing them, as docker's
      // /var/lib/docker (0711). Blobs, layers and other containers stay 0700.
      fs.chmodSync(ctx.store.root, 0o711);
      fs.chmodSync(join(ctx.store.root, 'containers'), 0o711);
    }
    const name = ctx.options.name;
    // The name check and the directory that claims the name, under one lock.
    const lock = await ctx.store.lock('names');
    try {
      const taken = name ? listContainers(ctx.store).find((c) => c.name === name) : undefined;
      if (taken) {
        throw new GlassboxError(`the name "${name}" is already in use by container ${taken.id.slice(0, 12)}: remove it (glassbox rm) or choose another`, { op: 'create', code: 'EEXIST' });
      }
      fs.mkdirSync(root, { mode: userns ? 0o711 : 0o700 });
      ctx.dirs = dirs;
      // First: who owns this directory, so gc can tell a live container from a leftover.
      writeState(root, { id: ctx.id, name, image: ctx.image!.record.name, command: processSpec(ctx).args, created: new Date().toISOString(), status: 'created', owner: self() });
    } finally {
      lock.release();
    }
    for (const d of [dirs.upper, dirs.work, dirs.merged]) fs.mkdirSync(d, { mode: 0o755 });
    const img = ctx.image!;
    if (userns) {
      fs.mkdirSync(dirs.lower, { mode: 0o700 });
      for (let i = 0; i < img.layers.length; i++) fs.mkdirSync(join(dirs.lower, String(i)), { mode: 0o700 });
    }
    // What the store must keep while this container exists.
    fs.writeFileSync(join(root, 'image.json'), JSON.stringify({ name: img.record.name, digest: img.record.digest, diffIds: img.config.rootfs.diff_ids }, null, 2) + '\n');
    const proc = processSpec(ctx);
    const spec = {
      ociVersion: '1.0.2',
      process: { terminal: false, user: { uid: 0, gid: 0 }, args: proc.args, env: proc.env, cwd: proc.cwd },
      root: { path: 'merged', readonly: false },
      hostname: hostnameOf(ctx),
      mounts: [
        { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
        { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
        { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
        { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
        { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
        { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      ],
      linux: {
        namespaces: [...(userns ? ['user'] : []), 'mount', 'uts', 'ipc', ...(ctx.options.network === 'host' ? [] : ['network']), 'cgroup', 'pid'].map((type) => ({ type })),
        ...(userns
          ? {
              uidMappings: userns.uid.map((m) => ({ containerID: m.inside, hostID: m.outside, size: m.count })),
              gidMappings: userns.gid.map((m) => ({ containerID: m.inside, hostID: m.outside, size: m.count })),
            }
          : {}),
        resources: {
          memory: ctx.options.limits?.memoryBytes !== undefined ? { limit: ctx.options.limits.memoryBytes } : undefined,
          cpu: ctx.options.limits?.cpus !== undefined ? { quota: Math.round(ctx.options.limits.cpus * 100000), period: 100000 } : undefined,
          pids: ctx.options.limits?.pidsMax !== undefined ? { limit: ctx.options.limits.pidsMax } : undefined,
        },
        cgroupsPath: `glassbox/${ctx.id}`,
      },
    };
    fs.writeFileSync(join(root, 'config.json'), JSON.stringify(spec, null, 2) + '\n');
  },
  async undo(ctx) {
    if (!ctx.dirs) return;
    // A run that ended is kept, as docker keeps it, unless --rm; a run that failed or was stopped before its program ran is removed.
    if (ctx.exit && !ctx.options.rm) {
      updateState(ctx.dirs.root, { status: 'exited', exitCode: exitCodeOf(ctx.exit), finished: new Date().toISOString(), oomKilled: ctx.oomKilled });
      return;
    }
    fs.rmSync(ctx.dirs.root, { recursive: true, force: true });
  },
};
