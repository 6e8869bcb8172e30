// glassbox exec: another program in a running container. A new helper joins
// the container's cgroup and namespaces (setns; the mount namespace last,
// which makes the container's root its own), forks into its PID namespace,
// takes the container's capabilities and user, and execs, as docker exec
// does through runc exec.
import * as fs from 'node:fs';
import { join } from 'node:path';
import type { Store } from '../image/store.js';
import { addon } from '../native/addon.js';
import { GlassboxError } from '../util/errors.js';
import { openCgroup } from './cgroup/index.js';
import { askControl } from './control.js';
import { LiveHelper, type StdioSlot } from './helper/live.js';
import { throwIfExecFailed } from './stages/process.js';
import { DOCKER_DEFAULT_CAPS } from './stages/security.js';
import { containerDir } from './state.js';
import { ownUserNamespace } from './userns.js';
import { exitCodeOf } from './context.js';

export interface ExecOptions {
  argv: string[];
  env?: string[];
  workdir?: string;
  user?: string;
  interactive?: boolean;
  tty?: boolean;
  ttySize?: { rows: number; cols: number };
  /** Once the program runs; with tty, the pty master (the caller copies it, and closes it). */
  onStarted?: (ptyMaster?: number) => void;
}

export async function execInContainer(store: Store, id: string, o: ExecOptions): Promise<number> {
  if (o.argv.length === 0) throw new GlassboxError('no command given', { op: 'exec', code: 'EINVAL' });
  const status = await askControl(store.root, id, { cmd: 'status' });
  if (!status.ok || !('status' in status)) throw new GlassboxError('cannot ask the glassbox that runs it', { op: 'exec', subject: id.slice(0, 12), code: 'EPROTO' });
  const pid = status.status.pid;
  if (!pid || status.status.stage !== 'running') {
    throw new GlassboxError(`it is not running its program yet (at ${status.status.stage})`, { op: 'exec', subject: id.slice(0, 12), code: 'EINVAL' });
  }
  const spec = JSON.parse(fs.readFileSync(join(containerDir(store, id), 'config.json'), 'utf8')) as { process: { env: string[]; cwd: string } };
  let stdio: [StdioSlot, StdioSlot, StdioSlot] = [o.interactive ? 'inherit' : 'ignore', 'inherit', 'inherit'];
  let pty: { master: number; slave: number } | undefined;
  if (o.tty) {
    pty = addon().openpty(o.ttySize);
    stdio = [pty.slave, pty.slave, pty.slave];
  }
  let helper: LiveHelper;
  try {
    helper = await LiveHelper.start({ stdio });
  } finally {
    if (pty) fs.closeSync(pty.slave);
  }
  let handedOver = false;
  try {
    // The cgroup first: everything the helper forks is then counted and limited with the container.
    const cg = await openCgroup(id, { parent: store.cgroupParent });
    if (cg) await cg.join(helper.pid);
    // A container with a user namespace of its own: that first, so the others (which it owns) may be joined from inside it.
    const ownUserns = ownUserNamespace(pid);
    await helper.call('setns', { pid, types: [...(ownUserns ? (['user'] as const) : []), 'ipc', 'uts', 'net', 'cgroup', 'pid', 'mnt'] });
    await helper.call('fork_init', {});
    await cg?.leave(helper.pid);
    const user = o.user ? await helper.call('resolve_user', { spec: o.user }) : { uid: 0, gid: 0, groups: [] as number[], home: '/root' };
    await helper.call('capabilities', { keep: DOCKER_DEFAULT_CAPS });
    await helper.call('user', { uid: user.uid, gid: user.gid, groups: user.groups });
    const env = new Map<string, string>();
    for (const e of [...spec.process.env, ...(o.tty ? ['TERM=xterm'] : []), ...(o.env ?? [])]) env.set(e.split('=')[0]!, e);
    if (o.tty) await helper.call('setsid_ctty', {});
    try {
      await helper.call('exec', { argv: o.argv, env: [...env.values()], cwd: o.workdir ?? spec.process.cwd });
    } catch (e) {
      if (e instanceof GlassboxError && e.code === 'ENOENT' && /not found in \$PATH/.test(e.message)) {
        throw new GlassboxError(`"${o.argv[0]}": executable file not found in $PATH`, { op: 'exec', code: 'ENOENT', exitCode: 127 });
      }
      throw e;
    }
    handedOver = pty !== undefined;
    o.onStarted?.(pty?.master);
    const exit = await helper.exited;
    throwIfExecFailed(helper);
    return exitCodeOf(exit);
  } finally {
    await helper.stop();
    if (pty && !handedOver) fs.closeSync(pty.master);
  }
}
