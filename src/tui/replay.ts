// Replay: a recorded stream held compactly (syscalls in a columnar log, the
// few other events as objects), and a player that moves a position through
// it, at recorded speed or by jumps, and folds what happened into a Model.
// Seeking back rebuilds the model from the non-syscall events alone, so it
// costs the same at event 10 as at event 1,000,000. No terminal here.
import type { GlassboxEvent, StagePhase } from '../events/schema.js';
import type { SyscallColumns } from './lines.js';
import type { LoadBatch } from './load.js';
import { Model, SyscallLog } from './model.js';
import { hasBreakpoint } from './state.js';

/** A place a replay can stop: after a recorded pause (and its snapshot), or before a stage begins. */
export interface Boundary {
  /** Stop before applying the event at this position. */
  pos: number;
  stage: string;
  kind: 'paused' | 'begin';
  about?: string;
}

interface Sparse {
  pos: number;
  e: GlassboxEvent;
  /** Log lines once this event is applied (an output chunk adds lines). */
  logAfter: number;
}

export class Timeline {
  readonly log = new SyscallLog(Infinity);
  readonly sparse: Sparse[] = [];
  readonly boundaries: Boundary[] = [];
  /** Stages in the order they were seen, for a stream with no header. */
  readonly stagesSeen: string[] = [];
  length = 0;
  loaded = false;
  exitCode?: number;
  failed = false;
  private readonly lastPhase = new Map<string, StagePhase>();
  private open?: Boundary;
  private stage = '';

  /** A loader's batch, as if its events were pushed one by one; `after` sees each event that is not a syscall once it is in. */
  pushBatch(b: LoadBatch, after?: (e: GlassboxEvent) => void): void {
    // The syscalls between the other events, a run at a time.
    let k = 0;
    let at = 0;
    for (const [pos, e] of b.others) {
      this.pushSyscalls(b.syscalls, k, k + pos - at);
      k += pos - at;
      this.push(e);
      after?.(e);
      at = pos + 1;
    }
    this.pushSyscalls(b.syscalls, k, b.syscalls.count);
  }

  /** Syscalls [from, to) of a loader's columns, as if pushed one by one. */
  pushSyscalls(c: SyscallColumns, from: number, to: number): void {
    if (to <= from) return;
    this.log.appendSyscalls(c, from, to);
    this.length += to - from;
    this.open = undefined;
  }

  push(e: GlassboxEvent): void {
    const pos = this.length++;
    if (e.kind === 'syscall') {
      this.log.appendSyscall(e);
      this.open = undefined;
      return;
    }
    if (e.kind === 'output') this.log.appendOutput(e.data, e.stream, this.log.internStage(this.stage), e.t);
    this.sparse.push({ pos, e, logAfter: this.log.total });
    // The snapshot taken at a pause belongs to it: stop after it.
    if (e.kind === 'snapshot' && this.open && this.open.pos === pos) {
      this.open.pos = pos + 1;
      return;
    }
    this.open = undefined;
    if (e.kind === 'stage') {
      if (!this.lastPhase.has(e.stage)) this.stagesSeen.push(e.stage);
      if (e.phase === 'paused') {
        this.open = { pos: pos + 1, stage: e.stage, kind: 'paused', about: e.about };
        this.boundaries.push(this.open);
      } else if (e.phase === 'begin') {
        this.stage = e.stage;
        if (this.lastPhase.get(e.stage) !== 'resumed') this.boundaries.push({ pos, stage: e.stage, kind: 'begin', about: e.about });
      } else if (e.phase === 'failed' && !e.error?.startsWith('undo:')) this.failed = true;
      this.lastPhase.set(e.stage, e.phase);
    }
    if (e.kind === 'exit') this.exitCode = e.code;
  }

  /** Index of the first sparse event at or after pos. */
  sparseIndex(pos: number): number {
    let lo = 0;
    let hi = this.sparse.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.sparse[mid]!.pos < pos) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Log lines before the event at pos. */
  logBefore(pos: number, j = this.sparseIndex(pos)): number {
    if (j === 0) return pos;
    const s = this.sparse[j - 1]!;
    return s.logAfter + (pos - s.pos - 1);
  }

  /** The recorded time of the event at pos. */
  time(pos: number, j = this.sparseIndex(pos)): number {
    const s = this.sparse[j];
    if (s && s.pos === pos) return s.e.t;
    return this.log.t(this.logBefore(pos, j));
  }

  /** What the recording's exit status was: the exit event's, else 1 if a stage failed. */
  recordedExit(): number {
    return this.exitCode ?? (this.failed ? 1 : 0);
  }

  /** First boundary with pos >= p. */
  boundaryIndex(p: number): number {
    let lo = 0;
    let hi = this.boundaries.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.boundaries[mid]!.pos < p) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** The longest stretch of recorded time between two events that playback sits through (a person thinking at a pause). */
export const MAX_GAP_MS = 500;
export const SPEEDS = [0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128, 256, 1024];

export class Player {
  model: Model;
  /** Events applied. */
  pos = 0;
  playing = true;
  /** n: stop at the next boundary, whatever the breakpoints. */
  stepping = false;
  /** c: stop nowhere. */
  continuing = false;
  speed = 1;
  /** Recorded time the playback has reached. */
  private playhead?: number;
  /** Where the current play began: a boundary there does not stop it again. */
  private from = 0;
  private j = 0;
  private logNext = 0;
  /** Called when playback stops at a boundary. */
  onStop?: (b: Boundary | undefined) => void;

  constructor(
    readonly tl: Timeline,
    private readonly stageIds: readonly string[],
    /** The breakpoints to stop at; read at every boundary. */
    private readonly breakpoints: () => Set<string> | 'all',
  ) {
    this.model = new Model(stageIds, tl.log);
  }

  /** Move to position p at once (back or forward), stopped. */
  seek(p: number): void {
    p = Math.max(0, Math.min(p, this.tl.length));
    if (p < this.pos) {
      this.model = new Model(this.stageIds, this.tl.log);
      this.pos = 0;
      this.j = 0;
      this.logNext = 0;
    }
    this.applyTo(p);
    this.playhead = undefined;
    // Stopped on a boundary before a stage begins: the model says paused before it.
    const b = this.tl.boundaries[this.tl.boundaryIndex(p)];
    if (b && b.pos === p && b.kind === 'begin') this.model.pause = { stage: b.stage, about: b.about ?? '', id: this.model.id };
  }

  /** Apply every event before p (p >= pos): the non-syscall ones one by one, the syscalls in one count. */
  private applyTo(p: number): void {
    const sp = this.tl.sparse;
    while (this.j < sp.length && sp[this.j]!.pos < p) {
      this.model.apply(sp[this.j]!.e);
      this.j++;
    }
    this.pos = p;
    this.logNext = this.tl.logBefore(p, this.j);
    this.model.reveal(this.logNext);
  }

  play(mode: 'play' | 'step' | 'continue'): void {
    this.playing = true;
    this.stepping = mode === 'step';
    this.continuing = mode === 'continue';
    this.from = this.pos;
    this.playhead = undefined;
  }

  stop(): void {
    this.playing = false;
    this.stepping = false;
    this.continuing = false;
  }

  private shouldStop(b: Boundary): boolean {
    if (b.pos <= this.from || this.continuing) return false;
    if (this.stepping) return true;
    return hasBreakpoint(this.breakpoints(), b.stage);
  }

  /** Advance by `wallMs` of playing time; returns the number of events applied. */
  tick(wallMs: number, maxEvents = 250_000): number {
    if (!this.playing) return 0;
    const tl = this.tl;
    const start = this.pos;
    if (this.pos >= tl.length) {
      if (tl.loaded) this.stop();
      return 0;
    }
    this.playhead ??= tl.time(this.pos, this.j);
    this.playhead += wallMs * this.speed;
    let bi = tl.boundaryIndex(this.pos);
    let target = this.pos;
    let stopAt: Boundary | undefined;
    let j = this.j;
    while (target < tl.length && target - start < maxEvents) {
      while (j < tl.sparse.length && tl.sparse[j]!.pos < target) j++;
      // A stop comes as soon as the events before it are shown, not after the gap that follows.
      const b = tl.boundaries[bi];
      if (b && b.pos === target && this.shouldStop(b)) {
        stopAt = b;
        break;
      }
      const t = tl.time(target, j);
      this.playhead = Math.max(this.playhead, t - MAX_GAP_MS);
      if (t > this.playhead) break;
      if (b && b.pos === target) bi++;
      target++;
    }
    if (target > this.pos) this.applyTo(target);
    if (stopAt) {
      this.stop();
      this.seek(this.pos);
      this.onStop?.(stopAt);
    } else if (this.pos >= tl.length && tl.loaded) {
      this.stop();
      this.onStop?.(undefined);
    }
    return this.pos - start;
  }

  /** The recorded time at the position. */
  time(): number | undefined {
    if (!this.tl.length) return undefined;
    const p = Math.min(this.pos, this.tl.length - 1);
    return this.tl.time(p);
  }

  /** Position of the next (+1) or previous (-1) boundary from here. */
  boundaryFrom(dir: 1 | -1): number {
    const tl = this.tl;
    if (dir > 0) {
      const b = tl.boundaries[tl.boundaryIndex(this.pos + 1)];
      return b ? b.pos : tl.length;
    }
    const i = tl.boundaryIndex(this.pos) - 1;
    return i >= 0 ? tl.boundaries[i]!.pos : 0;
  }

  /** Where the stage is first stopped at: its pause, else its begin. */
  stagePos(stage: string): number | undefined {
    return this.tl.boundaries.find((b) => b.stage === stage)?.pos;
  }

  faster(dir: 1 | -1): void {
    const i = SPEEDS.indexOf(this.speed);
    this.speed = SPEEDS[Math.max(0, Math.min(SPEEDS.length - 1, (i < 0 ? 2 : i) + dir))]!;
  }
}
