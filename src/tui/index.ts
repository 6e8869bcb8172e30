// The TUI's API: startTui for a live run (the engine's sink and pause hook)
// or a replay fed by hand; replayTui for a recorded stream, with the replay
// keys. Everything on screen comes from the events: src/tui/model.ts folds
// them, the panes draw the model.
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { EventSink, GlassboxEvent } from '../events/schema.js';
import type { TraceReader } from '../trace/read.js';
import { loadInWorker, type LoadBatch } from './load.js';
import { App } from './app.js';
import { defaultLessonsDir } from './lesson.js';
import { Player, Timeline } from './replay.js';

export interface TuiOptions {
  mode: 'live' | 'replay';
  /** Stage ids in order (live: from stageIds(); replay: from the header's `stages`). */
  stages: string[];
  breakpoints?: Set<string> | 'all';
  /** live: opens a shell in the container with this id; the TUI suspends itself around it. */
  shell?: (id: string) => Promise<void>;
  /** Where lessons live (default: packageRoot()/lessons). */
  lessonsDir?: string;
  input?: NodeJS.ReadableStream;
  output?: NodeJS.WritableStream;
}

export interface Tui {
  /** Feed events. Cheap: folds into the model and redraws on a timer. */
  sink: EventSink;
  /** live: the engine's onPause hook; resolves on n/space ('step') or c ('continue'), on abort, or when `resumed` settles. */
  onPause(stageId: string, about: string, containerId: string | undefined, signal?: AbortSignal, resumed?: Promise<unknown>): Promise<'step' | 'continue'>;
  /** The breakpoints as the user edited them, plus the next stage after a step. */
  breakpoints(): Set<string> | 'all' | undefined;
  /** Resolves when the user pressed q (or Ctrl-C). The screen is gone by then. */
  quit: Promise<void>;
  /** The program finished: show the exit status and wait for q. */
  finished(code: number): Promise<void>;
  destroy(): void;
}

export function startTui(o: TuiOptions): Tui {
  const app = new App({ mode: o.mode, stages: o.stages, breakpoints: o.breakpoints, lessonsDir: o.lessonsDir ?? defaultLessonsDir(), input: o.input, output: o.output });
  let quitResolve!: () => void;
  const quit = new Promise<void>((r) => (quitResolve = r));
  let pending: ((a: 'step' | 'continue') => void) | undefined;
  let finishedResolve: (() => void) | undefined;
  /** After n: the next stage, paused before even without a breakpoint. */
  let stepTo: string | undefined;

  const answer = (a: 'step' | 'continue') => {
    const p = pending;
    pending = undefined;
    app.ui.waiting = undefined;
    p?.(a);
    app.invalidate();
  };
  const nextStage = (after: string | undefined) => {
    const ids = app.model.stages.map((s) => s.id);
    const i = after ? ids.indexOf(after) : -1;
    return ids[i + 1];
  };

  /**
   * A key for a pause the screen already shows (the stage's paused event has
   * arrived) but the engine has not asked about yet (it is taking the
   * snapshot): kept, and given as the answer when it asks.
   */
  let early: { stage: string; answer: 'step' | 'continue' } | undefined;
  const shownPause = () => (o.mode === 'live' && !pending && app.ui.finished === undefined ? app.model.pause?.stage : undefined);

  app.driver = {
    step() {
      const shown = shownPause();
      if (pending) {
        stepTo = nextStage(app.ui.waiting?.stage);
        answer('step');
      } else if (shown) {
        stepTo = nextStage(shown);
        early = { stage: shown, answer: 'step' };
      } else if (o.mode === 'live' && app.ui.finished === undefined) {
        // Running: pause before the stage after the one running now.
        stepTo = nextStage(app.model.current);
        app.ui.message = stepTo ? `will pause before ${stepTo}` : 'this is the last stage';
      }
    },
    cont() {
      stepTo = undefined;
      if (app.ui.breakpoints === 'all') app.ui.breakpoints = new Set();
      const shown = shownPause();
      if (pending) answer('continue');
      else if (shown) early = { stage: shown, answer: 'continue' };
      else app.ui.message = 'running to the end (breakpoints set with b still pause)';
    },
    shell() {
      const id = app.ui.waiting?.id ?? app.model.id;
      if (o.mode !== 'live' || !o.shell) {
        app.ui.message = 'a shell needs a live run';
        return;
      }
      if (!id) {
        app.ui.message = 'no container yet: a shell can open from the spawn stage on';
        return;
      }
      const shell = o.shell;
      void app
        .suspend(() => shell(id))
        .catch((e: unknown) => {
          app.ui.message = `shell: ${(e as Error).message}`;
          app.invalidate();
        });
    },
  };

  app.onQuit = () => {
    app.destroy();
    quitResolve();
    finishedResolve?.();
    if (pending) answer('step');
  };
  // The terminal went away (closed window, dropped ssh): writes fail with EIO.
  // That is a quit, with the same clean-up, not a crash that leaves the run behind.
  const gone = () => app.onQuit?.();
  (o.output ?? process.stdout).on('error', gone);
  (o.input ?? process.stdin).on('error', gone);

  return {
    sink(e: GlassboxEvent) {
      if (app.destroyed) return;
      app.model.apply(e);
      if (e.kind === 'stage' && (e.phase === 'begin' || e.phase === 'paused') && e.stage === stepTo) stepTo = undefined;
      app.invalidate();
    },
    onPause(stageId, about, containerId, signal, resumed) {
      if (app.destroyed) return Promise.resolve('step');
      if (early?.stage === stageId) {
        const a = early.answer;
        early = undefined;
        return Promise.resolve(a);
      }
      early = undefined;
      if (stepTo === stageId) stepTo = undefined;
      app.ui.waiting = { stage: stageId, about, id: containerId };
      app.render();
      return new Promise<'step' | 'continue'>((resolve) => {
        // A settled pause (abort, another terminal, a key) never answers the next one.
        let done = false;
        const mine = (a: 'step' | 'continue') => {
          if (done) return;
          done = true;
          // One listener per pause would pile up on the run's signal over 16 stages.
          signal?.removeEventListener('abort', settle);
          resolve(a);
        };
        pending = mine;
        const settle = () => {
          if (pending === mine) answer('step');
          else mine('step');
        };
        if (signal?.aborted) settle();
        signal?.addEventListener('abort', settle, { once: true });
        resumed?.then(settle, settle);
      });
    },
    breakpoints() {
      const bp = app.ui.breakpoints;
      if (bp === 'all') return 'all';
      if (!stepTo) return new Set(bp);
      return new Set([...bp, stepTo]);
    },
    quit,
    finished(code: number) {
      if (app.destroyed) return Promise.resolve();
      app.ui.finished = code;
      app.ui.waiting = undefined;
      app.render();
      return new Promise<void>((r) => (finishedResolve = r));
    },
    destroy() {
      app.destroy();
      finishedResolve?.();
      if (pending) answer('step');
    },
  };
}

/** Loading works this long at most before the screen may draw and keys arrive. */
const LOAD_SLICE_MS = 25;

function isTraceReader(events: AsyncIterable<GlassboxEvent> | TraceReader): events is TraceReader {
  return 'path' in events && typeof events.path === 'string' && 'batches' in events;
}

/** A stream's events: a trace file's as LoadBatches, read on a worker thread from now on; another stream's one at a time. */
function loadStream(events: AsyncIterable<GlassboxEvent> | TraceReader): AsyncIterable<LoadBatch | GlassboxEvent> {
  return isTraceReader(events) ? loadInWorker(events.path) : events;
}

/**
 * Replay a recorded stream: loads it in the background (the first screen
 * comes at once), plays it at recorded speed × the speed factor, stops at
 * breakpoints (by default where the recording paused), and takes the replay
 * keys. Resolves with the recorded exit code when the user quits. Given
 * readTrace's reader, the file is read on a worker thread (src/tui/load.ts)
 * from before the first screen draws, this thread parsing pieces of it too
 * when it has time: a million events load in under two seconds on two cores.
 */
export function replayTui(events: AsyncIterable<GlassboxEvent> | TraceReader, o: Omit<TuiOptions, 'mode' | 'stages'>): Promise<number> {
  // The file is read from now on, while the first screen draws.
  const source = loadStream(events);
  const tl = new Timeline();
  const app = new App({ mode: 'replay', stages: [], breakpoints: o.breakpoints, lessonsDir: o.lessonsDir ?? defaultLessonsDir(), input: o.input, output: o.output });
  const player = new Player(tl, [], () => app.ui.breakpoints);
  app.ui.replay = { playing: true, continuing: false, speed: 1, pos: 0, length: 0, loaded: false };
  let userBreakpoints = o.breakpoints !== undefined;
  let quitting = false;

  const sync = () => {
    app.model = player.model;
    const r = app.ui.replay!;
    r.playing = player.playing;
    r.continuing = player.continuing;
    r.speed = player.speed;
    r.pos = player.pos;
    r.length = tl.length;
    r.loaded = tl.loaded;
    r.t = player.time();
    r.t0 = tl.length ? tl.time(0) : undefined;
  };
  player.onStop = (b) => {
    app.ui.selectionFollows = true;
    app.ui.message = b ? `stopped ${b.kind === 'paused' ? 'at the pause ' : ''}before ${b.stage}: n/space next stage, c play to the end, p play` : 'end of the recording: ← → , . to look back, q to quit';
  };

  /** By default the replay stops where the recording paused. */
  const pausedAt = (e: GlassboxEvent) => {
    if (!userBreakpoints && e.kind === 'stage' && e.phase === 'paused' && app.ui.breakpoints !== 'all') app.ui.breakpoints.add(e.stage);
  };
  // After q, only the exit status matters.
  const exitOf = (e: GlassboxEvent) => {
    if (e.kind === 'exit') tl.exitCode = e.code;
  };
  const loading = (async () => {
    let slice = performance.now();
    try {
      for await (const b of source) {
        if (b.kind !== 'batch') {
          if (quitting) exitOf(b);
          else {
            tl.push(b);
            pausedAt(b);
          }
        } else if (quitting) for (const [, e] of b.others) exitOf(e);
        else tl.pushBatch(b, pausedAt);
        if (performance.now() - slice >= LOAD_SLICE_MS) {
          // Let the screen draw and keys arrive while a long trace loads.
          await yieldToLoop();
          slice = performance.now();
        }
      }
    } catch (e) {
      app.ui.message = `reading the trace: ${(e as Error).message}`;
    }
    tl.loaded = true;
    // The header says "loaded" now, even if the player stands still.
    sync();
    app.render();
  })();

  let last = Date.now();
  const ticker = setInterval(() => {
    const now = Date.now();
    const wall = now - last;
    last = now;
    if (app.destroyed) return;
    const before = player.pos;
    const wasPlaying = player.playing;
    player.tick(wall);
    if (player.pos !== before || wasPlaying !== player.playing) {
      sync();
      app.invalidate();
    } else if (!tl.loaded) {
      // Only the count of events loaded changes: the App's clock draws it 4 times a second.
      // A frame of our own as well would cost the load as much as thousands of events.
      sync();
    }
  }, 20);

  const seek = (p: number) => {
    player.stop();
    player.seek(p);
    app.ui.selectionFollows = true;
    sync();
  };
  app.driver = {
    // A second n while a step plays finishes it at once.
    step: () => (player.playing ? seek(player.boundaryFrom(1)) : (player.play('step'), sync())),
    cont: () => (player.play('continue'), sync()),
    playPause: () => {
      if (player.playing) player.stop();
      else {
        // At the end, play starts over.
        if (player.pos >= tl.length && tl.loaded) player.seek(0);
        player.play('play');
      }
      sync();
    },
    seekStage: (dir) => seek(player.boundaryFrom(dir)),
    seekEvent: (dir) => seek(player.pos + dir),
    seekEdge: (end) => seek(end ? tl.length : 0),
    speed: (dir) => {
      player.faster(dir);
      sync();
    },
    jump: (stage) => {
      const p = player.stagePos(stage);
      if (p === undefined) app.ui.message = `${stage} is not in the recording${tl.loaded ? '' : ' loaded so far'}`;
      else seek(p);
    },
    breakpointsEdited: () => {
      userBreakpoints = true;
    },
  };
  sync();

  return new Promise<number>((resolve) => {
    app.onQuit = () => {
      quitting = true;
      clearInterval(ticker);
      app.destroy();
      void loading.then(() => resolve(tl.recordedExit()));
    };
  });
}
