// Start the helper, the single-threaded process that will become the
// container (native/helper/shim.cc). Node only sends it commands.
import { LiveHelper } from '../helper/live.js';
import type { Stage } from '../stage.js';

export const spawnStage: Stage = {
  id: 'spawn',
  title: 'Start the helper process',
  describe: () => 'start glassbox-shim, the process that unshares, mounts, pivots and finally execs',
  async run(ctx) {
    ctx.helper = await LiveHelper.start({ stdio: ctx.options.stdio });
  },
  async undo(ctx) {
    await ctx.helper?.stop();
  },
};
