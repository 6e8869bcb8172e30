// One stage per namespace, in the order runc's nsexec.c takes them: the
// user namespace first (every namespace made after it belongs to it, so the
// container's root may act in them), the PID namespace last, with the fork
// that makes PID 1.
import * as fs from 'node:fs';
import type { CloneFlag } from '../helper/protocol.js';
import type { Stage } from '../stage.js';
import { mapLines, mapText } from '../userns.js';

function nsStage(id: string, flag: CloneFlag, what: string, after?: Stage['run']): Stage {
  return {
    id,
    title: `New ${what} namespace`,
    describe: () => `unshare(${flag}): ${what}`,
    async run(ctx) {
      await ctx.helper!.call('unshare', { flags: [flag] });
      if (after) await after(ctx);
    },
  };
}

export const nsMnt = nsStage('ns-mnt', 'CLONE_NEWNS', 'mount table of its own, so its mounts never reach the host');
export const nsUts = nsStage('ns-uts', 'CLONE_NEWUTS', 'hostname and domain name of its own');
export const nsIpc = nsStage('ns-ipc', 'CLONE_NEWIPC', 'System V IPC and POSIX message queues of its own');
const nsNetNew = nsStage('ns-net', 'CLONE_NEWNET', 'network stack of its own, with only a loopback device', async (ctx) => {
  await ctx.helper!.call('loopback_up', {});
});

/** --network host keeps the host's network namespace: the stage makes none. */
export const nsNet: Stage = {
  ...nsNetNew,
  describe: (ctx) => (ctx.options.network === 'host' ? "keep the host's network namespace (--network host)" : nsNetNew.describe(ctx)),
  run: (ctx) => (ctx.options.network === 'host' ? Promise.resolve() : nsNetNew.run(ctx)),
};
export const nsCgroup = nsStage('ns-cgroup', 'CLONE_NEWCGROUP', 'view of the cgroup tree, rooted at the cgroup it is in');

export const nsPid: Stage = {
  id: 'ns-pid',
  title: 'New PID namespace, and PID 1',
  describe: () => 'unshare(CLONE_NEWPID), then fork: the child is PID 1 of the new namespace',
  async run(ctx) {
    await ctx.helper!.call('unshare', { flags: ['CLONE_NEWPID'] });
    await ctx.helper!.call('fork_init', {});
    // PID 1 stays in the container's cgroup; the helper, which only waits for
    // it now, leaves, as containerd's shim is outside: it must not count
    // against --pids-limit or --memory.
    await ctx.cgroup?.leave(ctx.helper!.pid);
    // The last move of the run: the kernel's lock may go back to its fast mode.
    ctx.cgroupWarm?.stop();
  },
};

/**
 * --userns: unshare(CLONE_NEWUSER), then glassbox writes the maps from
 * outside (only a process in the parent namespace may), then the helper
 * becomes the new namespace's root (setresuid(0)): host root is nobody in
 * there. Without --userns the stage makes nothing, as docker by default.
 */
export const nsUser: Stage = {
  id: 'ns-user',
  title: 'New user namespace',
  describe: (ctx) => {
    const u = ctx.options.userns;
    if (!u) return "keep the host's user namespace (no --userns): the container's root is the host's root, held back by capabilities, seccomp and masked paths";
    return `unshare(CLONE_NEWUSER), write uid_map "${mapLines(u.uid).join(', ')}" and gid_map "${mapLines(u.gid).join(', ')}", become its root`;
  },
  async run(ctx) {
    const u = ctx.options.userns;
    if (!u) return;
    const h = ctx.helper!;
    await h.call('unshare', { flags: ['CLONE_NEWUSER'] });
    // Each file takes one write(2), once; gid_map works without setgroups "deny" because glassbox is privileged in the parent namespace.
    for (const [file, maps] of [['uid_map', u.uid], ['gid_map', u.gid]] as const) {
      const text = mapText(maps);
      fs.writeFileSync(`/proc/${h.pid}/${file}`, text);
      ctx.events({ kind: 'host', t: Date.now(), detail: { what: 'idmap', pid: h.pid, file, text } });
    }
    await h.call('user', { uid: 0, gid: 0, groups: [] });
  },
};
