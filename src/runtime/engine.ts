// Runs the stages of `glassbox run` in order, pausing where asked, and
// undoes the completed ones in reverse when a stage fails, on Ctrl-C, and at
// the end of the run (teardown), so the host is left as it was.
import { hostname, release } from 'node:os';
import type { EventSink, HeaderEvent, StageEvent } from '../events/schema.js';
import { dropEvents, SCHEMA_VERSION } from '../events/schema.js';
import { packageVersion } from '../util/paths.js';
import { detectCgroups, warmCgroupMoves, type CgroupWarm } from './cgroup/index.js';
import { resolveImages } from '../image/resolve.js';
import type { Store } from '../image/store.js';
import { GlassboxError } from '../util/errors.js';
import { exitCodeOf, type RunContext, type RunOptions } from './context.js';
import { serveControl } from './control.js';
import { gc } from './gc.js';
import { takeSnapshot } from './snapshot.js';
import type { Stage } from './stage.js';
import { STAGES } from './stages/index.js';

export interface EngineOptions {
  events?: EventSink;
  /** warmCgroupMoves, if the caller started it before the engine (as early as it could): else the engine starts it. */
  cgroupWarm?: CgroupWarm;
  /**
   * Stage ids to pause before; 'all' pauses before every one (--step). A
   * function is asked before each stage (the TUI, where b edits them); its
   * answer is not dropped on 'continue': it says so itself.
   */
  breakpoints?: Set<string> | 'all' | (() => Set<string> | 'all' | undefined);
  /**
   * Called at a pause; resolves 'step' to keep pausing, 'continue' to run to
   * the end. `resumed` settles when another terminal resumes the pause
   * (glassbox resume): stop waiting then.
   */
  onPause?: (stage: Stage, ctx: RunContext, signal?: AbortSignal, resumed?: Promise<unknown>) => Promise<'step' | 'continue'>;
  /** Ctrl-C before the program runs: stop and undo. */
  signal?: AbortSignal;
  /** The command line, for the trace header. */
  argv?: string[];
}

export interface RunResult {
  ctx: RunContext;
  /** The program's exit status, or 128 + the signal that killed it, as a shell reports it. */
  exitCode: number;
}

export async function runContainer(store: Store, options: RunOptions, eo: EngineOptions = {}): Promise<RunResult> {
  const events = eo.events ?? dropEvents;
  const ctx: RunContext = { store, options, events, id: '', signal: eo.signal, stageIds: STAGES.map((s) => s.id) };
  events(headerEvent(store, options, [...ctx.stageIds], eo.argv ?? process.argv.slice(2)));
  const stageEvent = (stage: string, phase: StageEvent['phase'], error?: string) => events({ kind: 'stage', t: Date.now(), stage, phase, error });
  let breakpoints = eo.breakpoints;
  // Begun by the caller as early as it could (src/cli/early.ts), or now: it has passed by the time the helper joins its cgroup.
  const warm = eo.cgroupWarm ?? warmCgroupMoves();
  ctx.cgroupWarm = {
    stop: warm.stop,
    first: warm.first.then((w) => {
      if (w) events({ kind: 'host', t: Date.now(), detail: { what: 'cgroup-warm', file: w.file, pid: process.pid, ms: Math.round(w.ms * 10) / 10 } });
    }),
  };
  // What a killed glassbox left: removed before anything new is made.
  await gc(store);
  const done: Stage[] = [];
  let current = STAGES[0]!.id;
  let resumeFromOutside: (() => void) | undefined;
  let control: { close(): Promise<void> } | undefined;
  try {
    for (const stage of STAGES) {
      current = stage.id;
      if (eo.signal?.aborted) throw new GlassboxError('interrupted', { op: stage.id, code: 'EINTR' });
      // Once the container has an id, another terminal can look at it and resume it.
      if (ctx.id && !control) {
        control = await serveControl(store.root, ctx.id, {
          snapshot: () => takeSnapshot(ctx, current),
          resume: () => {
            const r = resumeFromOutside;
            resumeFromOutside = undefined;
            r?.();
            return r !== undefined;
          },
          status: () => ({ id: ctx.id, stage: current, paused: resumeFromOutside !== undefined, pid: ctx.helper?.initPid ?? ctx.helper?.pid }),
          kill: (signal) => {
            if (!ctx.helper) return false;
            ctx.helper.kill(signal);
            return true;
          },
          stop: (timeoutMs) => {
            if (!ctx.helper) return false;
            ctx.helper.kill('SIGTERM');
            setTimeout(() => ctx.helper?.kill('SIGKILL'), timeoutMs).unref();
            // A stop at a pause goes on, so the run can end.
            resumeFromOutside?.();
            return true;
          },
        });
      }
      const bp = typeof breakpoints === 'function' ? breakpoints() : breakpoints;
      if (bp && (bp === 'all' || bp.has(stage.id)) && eo.onPause) {
        events({ kind: 'stage', t: Date.now(), stage: stage.id, phase: 'paused', about: stage.describe(ctx), id: ctx.id || undefined });
        if (ctx.id) events({ kind: 'snapshot', t: Date.now(), snapshot: await takeSnapshot(ctx, stage.id) });
        const fromOutside = new Promise<'step'>((r) => (resumeFromOutside = () => r('step')));
        const answer = await Promise.race([eo.onPause(stage, ctx, eo.signal, fromOutside), fromOutside]);
        resumeFromOutside = undefined;
        if (answer === 'continue' && typeof breakpoints !== 'function') breakpoints = undefined;
        if (eo.signal?.aborted) throw new GlassboxError('interrupted', { op: stage.id, code: 'EINTR' });
        stageEvent(stage.id, 'resumed');
      }
      // 'running' is tagged by the tracer itself, at exec's execve (process.ts).
      if (stage.id !== 'running') ctx.helper?.setStage?.(STAGES.indexOf(stage));
      // What it is about to do, with every begin: a replay can pause anywhere and say it.
      events({ kind: 'stage', t: Date.now(), stage: stage.id, phase: 'begin', about: stage.describe(ctx), id: ctx.id || undefined });
      try {
        await stage.run(ctx);
      } catch (e) {
        const err = e instanceof GlassboxError && e.op !== 'helper' ? e : new GlassboxError(e instanceof GlassboxError ? e.detail : (e as Error).message, { op: stage.id, code: (e as GlassboxError).code, cause: e });
        events({ kind: 'stage', t: Date.now(), stage: stage.id, phase: 'failed', error: err.message, exitCode: err.exitCode });
        // A stage that failed half way has side effects too: undo it with the rest.
        done.push(stage);
        throw err;
      }
      stageEvent(stage.id, 'end');
      done.push(stage);
    }
  } finally {
    await control?.close();
    // Every undo runs even if one fails: each takes away its own piece.
    let undoError: unknown;
    for (const stage of done.reverse()) {
      if (!stage.undo) continue;
      ctx.helper?.setStage?.(STAGES.indexOf(stage));
      try {
        await stage.undo(ctx);
        stageEvent(stage.id, 'undone');
      } catch (e) {
        undoError ??= e;
        stageEvent(stage.id, 'failed', `undo: ${(e as Error).message}`);
      }
    }
    // Its event is the run's, whatever stage the run ended in.
    ctx.cgroupWarm.stop();
    await ctx.cgroupWarm.first;
    if (undoError && ctx.exit) throw undoError;
  }
  if (ctx.exit) {
    events({ kind: 'exit', t: Date.now(), ...ctx.exit, code: exitCodeOf(ctx.exit), oomKilled: ctx.oomKilled || undefined, memoryLimit: options.limits?.memoryBytes });
  }
  return { ctx, exitCode: exitCodeOf(ctx.exit ?? { status: 1 }) };
}

function inStore(store: Store, image: string): string | undefined {
  try {
    return resolveImages(store, image)[0]?.digest;
  } catch {
    return undefined;
  }
}

/** Where the stream comes from: enough for a reader on another machine to know what it is looking at. */
function headerEvent(store: Store, o: RunOptions, stages: string[], argv: string[]): HeaderEvent {
  let cgroup: HeaderEvent['host']['cgroup'] = 'none';
  try {
    cgroup = detectCgroups().mode;
  } catch {
    // no cgroup filesystem: the header says so
  }
  return {
    kind: 'header',
    schema: SCHEMA_VERSION,
    glassbox: packageVersion(),
    t: Date.now(),
    host: { kernel: release(), arch: process.arch, cgroup, hostname: hostname() },
    argv,
    image: o.image,
    imageDigest: inStore(store, o.image),
    store: store.root,
    trace: o.trace ?? 'off',
    stages,
  };
}
