// Start the helper, the single-threaded process that will become the
// container (native/helper/shim.cc). Node only sends it commands.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { addon } from '../../native/addon.js';
import { Socket } from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import { LiveHelper, type StdioSlot } from '../helper/live.js';
import type { RunContext } from '../context.js';
import type { Stage } from '../stage.js';

/** Copy one of the program's output pipes to glassbox's own stream, as output events too. */
function carryStream(ctx: RunContext, fd: number, stream: 'stdout' | 'stderr', to: NodeJS.WritableStream | undefined): Promise<void> {
  return new Promise((resolve) => {
    const s = new Socket({ fd, readable: true, writable: false });
    // A character split between two reads is kept for the next.
    const text = new StringDecoder('utf8');
    s.on('data', (d: Buffer) => {
      to?.write(d);
      const data = text.write(d);
      if (data) ctx.events({ kind: 'output', t: Date.now(), stream, data });
    });
    s.on('error', () => resolve());
    s.on('close', () => resolve());
  });
}

export function logPath(containerDir: string): string {
  return join(containerDir, 'container.log');
}

/**
 * A second helper for the few calls that must be made from the host's user
 * namespace once the container's has been made (--userns: the idmapped
 * layers and the overlay on them). Traced like the first, its syscalls
 * tagged with the stage it works for; the caller stops it.
 */
export async function startHostHelper(ctx: RunContext, stage: string): Promise<LiveHelper> {
  const mode = ctx.options.trace ?? 'off';
  const trace = mode === 'off' ? undefined : (await import('../../trace/live.js')).traceHooks(mode, ctx.stageIds, stage, ctx.events);
  const helper = await LiveHelper.start({ stdio: ['ignore', 'ignore', 'ignore'], trace });
  helper.setStage(ctx.stageIds.indexOf(stage));
  return helper;
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
    const carry = o.carryOutput && !o.detached && !o.tty ? o.carryOutput : undefined;
    const readEnds: number[] = [];
    if (carry) {
      // glassbox carries the output: its pipes are the program's stdout and stderr.
      const [r1, w1] = addon().pipe();
      const [r2, w2] = addon().pipe();
      readEnds.push(r1, r2);
      close.push(w1, w2);
      stdio = [stdio[0], w1, w2];
    }
    const mode = o.trace ?? 'off';
    const trace = mode === 'off' ? undefined : (await import('../../trace/live.js')).traceHooks(mode, ctx.stageIds, 'spawn', ctx.events);
    try {
      const helper = await LiveHelper.start({ stdio, trace });
      ctx.helper = helper;
      helper.setStage(ctx.stageIds.indexOf('spawn'));
    } catch (e) {
      for (const fd of readEnds) fs.closeSync(fd);
      throw e;
    } finally {
      for (const fd of close) fs.closeSync(fd);
    }
    if (carry) ctx.outputDone = Promise.all([carryStream(ctx, readEnds[0]!, 'stdout', carry.stdout), carryStream(ctx, readEnds[1]!, 'stderr', carry.stderr)]).then(() => {});
  },
  async undo(ctx) {
    await ctx.helper?.stop();
    // Every syscall and every byte of output is in the stream before the run ends.
    await ctx.helper?.traced;
    await ctx.outputDone;
    // The master is the caller's once it has taken it (to copy the terminal); else ours to close.
    if (ctx.ptyMaster !== undefined && !ctx.ptyTaken) fs.closeSync(ctx.ptyMaster);
  },
};
