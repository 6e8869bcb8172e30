// Start the helper, the single-threaded process that will become the
// container (native/helper/shim.cc). Node only sends it commands.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { addon } from '../../native/addon.js';
import { LiveHelper, type StdioSlot } from '../helper/live.js';
import type { Stage } from '../stage.js';

export function logPath(containerDir: string): string {
  return join(containerDir, 'container.log');
}

export const spawnStage: Stage = {
  id: 'spawn',
  title: 'Start the helper process',
  describe: (ctx) =>
    `start glassbox-shim, the process that unshares, mounts, pivots and finally execs${ctx.options.tty ? ', on a new pseudo-terminal' : ''}`,
  async run(ctx) {
    const o = ctx.options;
    let stdio: [StdioSlot, StdioSlot, StdioSlot] = o.stdio ?? [o.interactive ? 'inherit' : 'ignore', 'inherit', 'inherit'];
    const close: number[] = [];
    if (o.detached) {
      // Detached: the program writes to its log, which glassbox logs reads.
      const log = fs.openSync(logPath(ctx.dirs!.root), 'a', 0o600);
      close.push(log);
      stdio = ['ignore', log, log];
    } else if (o.tty) {
      // -t: the pty's slave side is the container's terminal; glassbox keeps the master.
      const pty = addon().openpty(o.ttySize);
      close.push(pty.slave);
      ctx.ptyMaster = pty.master;
      stdio = [pty.slave, pty.slave, pty.slave];
    }
    try {
      ctx.helper = await LiveHelper.start({ stdio });
    } finally {
      for (const fd of close) fs.closeSync(fd);
    }
  },
  async undo(ctx) {
    await ctx.helper?.stop();
    // The master is the caller's once it has taken it (to copy the terminal); else ours to close.
    if (ctx.ptyMaster !== undefined && !ctx.ptyTaken) fs.closeSync(ctx.ptyMaster);
  },
};
