// The container's cgroup: created with its limits and joined by the helper
// (and so by everything it forks), before the namespaces are made. Then a
// cgroup namespace, so the container sees its own cgroup as the root.
import { createCgroup } from '../cgroup/index.js';
import type { DeviceRule } from '../helper/protocol.js';
import type { RunContext } from '../context.js';
import type { Stage } from '../stage.js';

function limitsText(ctx: RunContext): string {
  const l = ctx.options.limits ?? {};
  const parts = [
    l.memoryBytes !== undefined ? `memory ${l.memoryBytes} bytes` : undefined,
    l.cpus !== undefined ? `${l.cpus} CPUs` : undefined,
    l.pidsMax !== undefined ? `${l.pidsMax} processes` : undefined,
  ].filter(Boolean);
  return parts.length ? parts.join(', ') : 'no limits (accounting only)';
}

export const cgroupStage: Stage = {
  id: 'cgroup',
  title: 'Create the cgroup and join it',
  describe: (ctx) => `create ${ctx.store.cgroupParent}/${ctx.id.slice(0, 12)}… in every cgroup hierarchy, write ${limitsText(ctx)}, and move the helper in`,
  async run(ctx) {
    const h = ctx.helper!;
    // The helper makes and writes them, so the tracer records every write.
    const io = {
      mkdir: async (path: string, exclusive: boolean) => void (await h.call('mkdir', { path, mode: 0o755, exclusive })),
      write: async (path: string, data: string) => void (await h.call('write_file', { path, data })),
      deviceFilter: async (path: string, rules: DeviceRule[]) => void (await h.call('device_filter', { path, rules })),
    };
    ctx.cgroup = await createCgroup(ctx.id, ctx.options.limits ?? {}, { parent: ctx.store.cgroupParent, io });
    await ctx.cgroupWarm?.first;
    await ctx.cgroup.join(ctx.helper!.pid);
  },
  async undo(ctx) {
    // The helper first, so it reaps init: killing both at once through the
    // cgroup would orphan init for a moment, and a PID 1 that does not reap
    // would keep it as a zombie.
    await ctx.helper?.stop();
    await ctx.cgroup?.destroy();
  },
};
