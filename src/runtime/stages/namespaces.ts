// One stage per namespace, in the order runc's nsexec.c takes them; the PID
// namespace last, with the fork that makes PID 1.
import type { CloneFlag } from '../helper/protocol.js';
import type { Stage } from '../stage.js';

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
  },
};
