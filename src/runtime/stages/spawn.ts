// Start the helper, the single-threaded process that will become the
// container (native/helper/shim.cc). Node only sends it commands.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { LiveHelper } from '../helper/live.js';

export function logPath(containerDir: string): string {
  return join(containerDir, 'container.log');
}
import type { Stage } from '../stage.js';

export const spawnStage: Stage = {
  id: 'spawn',
  title: 'Start the helper process',
  describe: () => 'start glassbox-shim, the process that unshares, mounts, pivots and finally execs',
  async run(ctx) {
    let stdio = ctx.options.stdio;
    if (ctx.options.detached) {
      // Detached: the program writes to its log, which glassbox logs reads.
      const log = fs.openSync(logPath(ctx.dirs!.root), 'a', 0o600);
      stdio = ['ignore', log, log];
      try {
        ctx.helper = await LiveHelper.start({ stdio });
      } finally {
        fs.closeSync(log);
      }
      return;
    }
    ctx.helper = await LiveHelper.start({ stdio });
  },
  async undo(ctx) {
    await ctx.helper?.stop();
  },
};
