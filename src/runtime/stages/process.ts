// The last stages: the hostname, then execve of the container's program,
// then waiting for it.
import { GlassboxError } from '../../util/errors.js';
import type { Helper } from '../helper/protocol.js';
import { updateState } from '../state.js';

/** docker stop's default grace period is 10 s; at a keyboard, 2 s. */
const STOP_TIMEOUT_MS = 2000;
import type { Stage } from '../stage.js';
import { hostnameOf, processSpec } from './create.js';

/** An execve that failed after the helper answered: one line, and docker's code (127 not there, 126 not runnable). */
export function throwIfExecFailed(h: Helper): void {
  const failed = h.execFailure;
  if (!failed) return;
  throw new GlassboxError(`"${failed.path}": ${failed.message.toLowerCase()}`, { op: 'exec', code: failed.errno, exitCode: failed.errno === 'ENOENT' ? 127 : 126 });
}

export const hostnameStage: Stage = {
  id: 'hostname',
  title: 'Set the hostname',
  describe: (ctx) => `sethostname("${hostnameOf(ctx)}") in the new UTS namespace`,
  async run(ctx) {
    await ctx.helper!.call('sethostname', { name: hostnameOf(ctx) });
  },
};

export const execStage: Stage = {
  id: 'exec',
  title: "Run the container's program",
  describe: (ctx) => `execve(${JSON.stringify(processSpec(ctx).args)}): PID 1 becomes the program`,
  async run(ctx) {
    const p = processSpec(ctx);
    // docker sets HOME from the user's passwd entry when the image does not.
    if (ctx.user && !p.env.some((e) => e.startsWith('HOME='))) p.env.push(`HOME=${ctx.user.home}`);
    if (ctx.options.tty) {
      // docker's TERM for -t, and the pty as the controlling terminal.
      if (!p.env.some((e) => e.startsWith('TERM='))) p.env.push('TERM=xterm');
      await ctx.helper!.call('setsid_ctty', {});
    }
    if (p.args.length === 0) throw new GlassboxError('no command specified: the image has no Cmd or Entrypoint, and none was given', { op: 'exec', code: 'EINVAL' });
    ctx.argv = p.args;
    updateState(ctx.dirs!.root, { status: 'running' });
    // The program's syscalls are 'running' from the instant execve succeeds.
    ctx.helper!.setStageOnExec?.(ctx.stageIds.indexOf('running'));
    try {
      await ctx.helper!.call('exec', { argv: p.args, env: p.env, cwd: p.cwd });
    } catch (e) {
      if (e instanceof GlassboxError && e.code === 'ENOENT' && /not found in \$PATH/.test(e.message)) {
        // docker's words, and its exit code 127
        throw new GlassboxError(`"${p.args[0]}": executable file not found in $PATH`, { op: 'exec', code: 'ENOENT', exitCode: 127 });
      }
      throw e;
    }
    ctx.options.onStarted?.(ctx);
  },
};

export const runningStage: Stage = {
  id: 'running',
  title: 'Running',
  describe: (ctx) => `wait for PID 1 (${ctx.argv?.[0] ?? 'the program'}) to exit`,
  async run(ctx) {
    const h = ctx.helper!;
    // Ctrl-C while it runs: ask the program to stop, as docker's signal proxy
    // does; PID 1 ignores signals it has no handler for, so insist after a while.
    const onAbort = () => {
      h.kill('SIGTERM');
      setTimeout(() => h.kill('SIGKILL'), STOP_TIMEOUT_MS).unref();
    };
    ctx.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      ctx.exit = await h.exited;
    } finally {
      ctx.signal?.removeEventListener('abort', onAbort);
    }
    throwIfExecFailed(h);
    if (ctx.exit.signal === 9 && ctx.cgroup) ctx.oomKilled = ((await ctx.cgroup.stats()).oomKills ?? 0) > 0;
  },
};
