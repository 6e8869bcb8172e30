// What the TUI knows, folded from the event stream: the stages and their
// states, the syscall stream (a bounded ring, columnar so a million calls cost
// little), namespaces from snapshots, cgroup limits and usage, the image's
// layers and the overlay. No terminal here: the panes read it, the tests fold
// event lists into it.
import type { ExitEvent, GlassboxEvent, HeaderEvent, LayerState, Snapshot, StagePhase, SyscallEvent, UnpackStats, NoteEvent } from '../events/schema.js';
import { assertNever } from '../events/schema.js';
import { parseReference } from '../image/reference.js';
import { LINE_ERR, LINE_NORET, LINE_STDERR, LINE_STDOUT, syscallKind, syscallText, type SyscallColumns } from './lines.js';

export type StageState = 'waiting' | 'running' | 'paused' | 'done' | 'failed' | 'undone';

export interface StageRow {
  id: string;
  state: StageState;
  /** begin and end (or failed) times, ms since the epoch. */
  begin?: number;
  end?: number;
  /** Syscalls recorded while this stage ran (those revealed so far, in a replay). */
  syscalls: number;
  about?: string;
  error?: string;
  /** The stage was undone after it ran (teardown, or a later failure). */
  undone?: boolean;
}

export { LINE_ERR, LINE_NORET, LINE_OK, LINE_STDERR, LINE_STDOUT, syscallText } from './lines.js';

export function isSyscallKind(kind: number): boolean {
  return kind <= LINE_NORET;
}

/** Lines an unbounded log's texts are joined in at most, a block at a time. */
const BLOCK_LINES = 4096;

/** Lines per chunk of an unbounded log's columns. */
const CHUNK_SHIFT = 16;
const CHUNK = 1 << CHUNK_SHIFT;
const CHUNK_MASK = CHUNK - 1;

/**
 * The stream's lines, one column per field: a ring of `capacity` lines (live),
 * or every line (replay, so it can seek back). Stage and syscall names are
 * interned; a line's text is `name(args) = ret`, rendered once when it arrives.
 * Unbounded, the columns grow a chunk at a time (never copied into a bigger
 * array, which would hold a million lines' columns twice for a moment), and
 * the texts are kept in blocks: the texts of consecutive lines joined in one
 * string, and where each starts. A million small strings cost a header each
 * and are each copied by the garbage collector; a few hundred big ones are not.
 */
export class SyscallLog {
  readonly capacity: number;
  /** Lines ever appended; the oldest kept is `first`. */
  total = 0;
  readonly stageIds: string[] = [];
  readonly names: string[] = ['']; // index 0: program output, no syscall name
  private readonly stageIdx = new Map<string, number>();
  private readonly nameIdx = new Map<string, number>([['', 0]]);
  private readonly ring: boolean;
  /** The ring's texts; or, unbounded, the texts of the lines after the last block. */
  private texts: string[] = [];
  /** Unbounded: the blocks, the first line of each, and each line's offset in its block. */
  private readonly blocks: string[] = [];
  private readonly blockFirst: number[] = [];
  private openFirst = 0;
  private lastBlock = 0;
  /** The ring's columns. */
  private readonly tCol: Float64Array;
  private readonly pidCol: Int32Array;
  private readonly stageCol: Uint16Array;
  private readonly nameCol: Uint16Array;
  private readonly kindCol: Uint8Array;
  /** Unbounded: the columns' chunks. */
  private readonly tCh: Float64Array[] = [];
  private readonly pidCh: Int32Array[] = [];
  private readonly stageCh: Uint16Array[] = [];
  private readonly nameCh: Uint16Array[] = [];
  private readonly kindCh: Uint8Array[] = [];
  private readonly offCh: Uint32Array[] = [];
  /** Where the flattening reads go, so no compiler drops them as unused. */
  private flatten = 0;

  constructor(capacity = 5000) {
    this.capacity = capacity;
    this.ring = Number.isFinite(capacity);
    const n = this.ring ? capacity : 0;
    this.tCol = new Float64Array(n);
    this.pidCol = new Int32Array(n);
    this.stageCol = new Uint16Array(n);
    this.nameCol = new Uint16Array(n);
    this.kindCol = new Uint8Array(n);
    if (this.ring) this.texts = new Array<string>(capacity);
  }

  get first(): number {
    return this.ring ? Math.max(0, this.total - this.capacity) : 0;
  }

  internStage(id: string): number {
    let i = this.stageIdx.get(id);
    if (i === undefined) {
      i = this.stageIds.length;
      this.stageIds.push(id);
      this.stageIdx.set(id, i);
    }
    return i;
  }

  internName(name: string): number {
    let i = this.nameIdx.get(name);
    if (i === undefined) {
      i = this.names.length;
      this.names.push(name);
      this.nameIdx.set(name, i);
    }
    return i;
  }

  nameIndex(name: string): number | undefined {
    return this.nameIdx.get(name);
  }

  stageIndex(id: string): number | undefined {
    return this.stageIdx.get(id);
  }

  /** Unbounded: room for `n` lines in every column. */
  private room(n: number): void {
    while (this.tCh.length * CHUNK < n) {
      this.tCh.push(new Float64Array(CHUNK));
      this.pidCh.push(new Int32Array(CHUNK));
      this.stageCh.push(new Uint16Array(CHUNK));
      this.nameCh.push(new Uint16Array(CHUNK));
      this.kindCh.push(new Uint8Array(CHUNK));
      this.offCh.push(new Uint32Array(CHUNK));
    }
  }

  /** Unbounded: the lines after the last block become a block. */
  private seal(): void {
    const texts = this.texts;
    if (!texts.length) return;
    let at = 0;
    for (let k = 0; k < texts.length; k++) {
      const i = this.openFirst + k;
      this.offCh[i >>> CHUNK_SHIFT]![i & CHUNK_MASK] = at;
      at += texts[k]!.length;
    }
    this.blocks.push(texts.join(''));
    this.blockFirst.push(this.openFirst);
    this.texts = [];
    this.openFirst = this.total;
  }

  append(text: string, name: number, stage: number, pid: number, kind: number, t: number): number {
    const i = this.total;
    if (this.ring) {
      const s = i % this.capacity;
      // A string built by concatenation is a rope of its pieces (~280 bytes for a
      // 40-character call); reading a character flattens it in place (~60).
      this.flatten ^= text.length ? text.charCodeAt(0) : 0;
      this.texts[s] = text;
      this.tCol[s] = t;
      this.pidCol[s] = pid;
      this.stageCol[s] = stage;
      this.nameCol[s] = name;
      this.kindCol[s] = kind;
    } else {
      this.room(i + 1);
      this.texts.push(text);
      const c = i >>> CHUNK_SHIFT;
      const o = i & CHUNK_MASK;
      this.tCh[c]![o] = t;
      this.pidCh[c]![o] = pid;
      this.stageCh[c]![o] = stage;
      this.nameCh[c]![o] = name;
      this.kindCh[c]![o] = kind;
    }
    this.total++;
    if (!this.ring && this.texts.length === BLOCK_LINES) this.seal();
    return i;
  }

  appendSyscall(e: SyscallEvent): number {
    return this.append(syscallText(e), this.internName(e.name), this.internStage(e.stage), e.pid, syscallKind(e), e.t);
  }

  /** Unbounded: lines [from, to) of a run of syscall columns, their texts kept as one block. */
  appendSyscalls(c: SyscallColumns, from: number, to: number): void {
    if (this.ring) throw new Error('appendSyscalls is for an unbounded log');
    if (to <= from) return;
    this.seal();
    const first = this.total;
    this.room(first + to - from);
    const names = c.names.map((x) => this.internName(x));
    const stages = c.stages.map((x) => this.internStage(x));
    const start = from ? c.ends[from - 1]! : 0;
    // A chunk at a time: the run may start in one and end in the next.
    for (let k = from; k < to; ) {
      const i = first + k - from;
      const ch = i >>> CHUNK_SHIFT;
      const o = i & CHUNK_MASK;
      const n = Math.min(to - k, CHUNK - o);
      const off = this.offCh[ch]!;
      const nameCol = this.nameCh[ch]!;
      const stageCol = this.stageCh[ch]!;
      for (let j = 0; j < n; j++) {
        off[o + j] = k + j > from ? c.ends[k + j - 1]! - start : 0;
        nameCol[o + j] = names[c.name[k + j]!]!;
        stageCol[o + j] = stages[c.stage[k + j]!]!;
      }
      this.tCh[ch]!.set(c.t.subarray(k, k + n), o);
      this.pidCh[ch]!.set(c.pid.subarray(k, k + n), o);
      this.kindCh[ch]!.set(c.kind.subarray(k, k + n), o);
      k += n;
    }
    this.blocks.push(from === 0 && to === c.count ? c.text : c.text.slice(start, c.ends[to - 1]!));
    this.blockFirst.push(first);
    this.total += to - from;
    this.openFirst = this.total;
  }

  /** One line per line of output; a chunk's unfinished last line is a line too. */
  appendOutput(data: string, stream: 'stdout' | 'stderr', stage: number, t: number): number {
    const lines = data.split('\n');
    if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
    for (const l of lines) this.append(l.replace(/\r$/, ''), 0, stage, 0, stream === 'stdout' ? LINE_STDOUT : LINE_STDERR, t);
    return lines.length;
  }

  text(i: number): string {
    if (this.ring) return this.texts[i % this.capacity]!;
    if (i >= this.openFirst) return this.texts[i - this.openFirst]!;
    const firsts = this.blockFirst;
    // Lines are mostly read in order: the block of the last one read first.
    let b = this.lastBlock;
    if (!(b < firsts.length && firsts[b]! <= i && (b + 1 === firsts.length || i < firsts[b + 1]!))) {
      let lo = 0;
      let hi = firsts.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (firsts[mid]! <= i) lo = mid;
        else hi = mid - 1;
      }
      b = this.lastBlock = lo;
    }
    const block = this.blocks[b]!;
    const next = b + 1 < firsts.length ? firsts[b + 1]! : this.openFirst;
    const from = this.offCh[i >>> CHUNK_SHIFT]![i & CHUNK_MASK]!;
    const j = i + 1;
    return block.slice(from, j < next ? this.offCh[j >>> CHUNK_SHIFT]![j & CHUNK_MASK]! : block.length);
  }
  t(i: number): number {
    return this.ring ? this.tCol[i % this.capacity]! : this.tCh[i >>> CHUNK_SHIFT]![i & CHUNK_MASK]!;
  }
  pid(i: number): number {
    return this.ring ? this.pidCol[i % this.capacity]! : this.pidCh[i >>> CHUNK_SHIFT]![i & CHUNK_MASK]!;
  }
  stage(i: number): number {
    return this.ring ? this.stageCol[i % this.capacity]! : this.stageCh[i >>> CHUNK_SHIFT]![i & CHUNK_MASK]!;
  }
  name(i: number): number {
    return this.ring ? this.nameCol[i % this.capacity]! : this.nameCh[i >>> CHUNK_SHIFT]![i & CHUNK_MASK]!;
  }
  kind(i: number): number {
    return this.ring ? this.kindCol[i % this.capacity]! : this.kindCh[i >>> CHUNK_SHIFT]![i & CHUNK_MASK]!;
  }
}

/** What the stream pane shows: by syscall name, by stage, by text, errors only. */
export interface StreamFilter {
  names?: string[];
  stages?: string[];
  /** Case-insensitive substring of the line. */
  text?: string;
  errorsOnly?: boolean;
}

export function filterKey(f: StreamFilter): string {
  return JSON.stringify([f.names ?? [], f.stages ?? [], f.text ?? '', !!f.errorsOnly]);
}

export function filterIsEmpty(f: StreamFilter): boolean {
  return !f.names?.length && !f.stages?.length && !f.text && !f.errorsOnly;
}

/**
 * "open stage:ns-uts close" and the like: known stage ids and `stage:X` filter
 * by stage, known syscall names and `name:X` by name, `err` or `!` errors
 * only, anything else is searched for in the text.
 */
export function parseFilter(input: string, stageIds: readonly string[], knownNames: readonly string[]): StreamFilter {
  const f: StreamFilter = {};
  const text: string[] = [];
  const stages = new Set(stageIds);
  const names = new Set(knownNames);
  for (const tok of input.trim().split(/\s+/).filter(Boolean)) {
    const m = /^(stage|name|s|n):(.+)$/.exec(tok);
    if (m) {
      if (m[1]![0] === 's') (f.stages ??= []).push(m[2]!);
      else (f.names ??= []).push(m[2]!);
    } else if (tok === 'err' || tok === '!' || tok === 'errors') f.errorsOnly = true;
    else if (stages.has(tok)) (f.stages ??= []).push(tok);
    else if (names.has(tok)) (f.names ??= []).push(tok);
    else text.push(tok);
  }
  if (text.length) f.text = text.join(' ');
  return f;
}

export interface NamespaceRow {
  type: string;
  host: string;
  container: string;
  /** Differs from the host's. */
  changed: boolean;
  /** The stage that made it the container's own, when known. */
  by?: string;
}

export interface CgroupPoint {
  t: number;
  memory?: number;
  /** CPU use in CPUs (1 = one CPU all the time) since the last point. */
  cpu?: number;
  pids?: number;
}

export interface CgroupState {
  /** The directory the lessons' {{cgroup}} names: the memory controller's, else the first written. */
  dir?: string;
  files: Snapshot['cgroup'];
  limits: { memory?: number; cpu?: number; pids?: number };
  series: CgroupPoint[];
  /** The last cumulative CPU time seen (µs), and when: a rate needs two. */
  lastCpu?: { t: number; usec: number };
}

export interface LayerRow {
  digest: string;
  diffId: string;
  size: number;
  bytes: number;
  state: LayerState;
  unpacked?: { dir: string; stats: UnpackStats };
}

export interface Overlay {
  lower: string[];
  upper?: string;
  work?: string;
  /** Where it is mounted, as the container's process sees it. */
  mountpoint?: string;
}

const MAX_SERIES = 120;

/**
 * Folds events into what the panes show. Live: `apply` every event (the log is
 * a ring). Replay: the player owns a complete log and calls `apply` for every
 * event but syscalls, and `reveal(n)` to say how many lines have happened.
 */
export class Model {
  header?: HeaderEvent;
  readonly stages: StageRow[] = [];
  private readonly stageRow = new Map<string, number>();
  /** Log stage index -> row index, filled as stages are interned. */
  private logStageToRow: number[] = [];
  /** The stage most recently begun or paused at. */
  current?: string;
  /** The stage last ended: a snapshot's changes are its doing. */
  lastEnded?: string;
  /** Paused before this stage (the engine's pause, or a replay's stop before a stage). */
  pause?: { stage: string; about: string; id?: string };
  /** Full container id, once there is one. */
  id?: string;
  readonly log: SyscallLog;
  private readonly ownsLog: boolean;
  /** Lines of the log that have happened (all of them, live). */
  visible = 0;
  /** Syscalls seen in all, including those the ring has dropped. */
  syscalls = 0;
  snapshot?: Snapshot;
  namespaces: NamespaceRow[] = [];
  private readonly nsBy = new Map<string, string>();
  cgroup: CgroupState = { files: [], limits: {}, series: [] };
  readonly layers = new Map<string, LayerRow>();
  private readonly unpacks = new Map<string, { dir: string; stats: UnpackStats }>();
  image?: { name: string; digest: string; layers: number; size: number };
  resolved?: { reference: string; registry: string; repository: string; tag?: string; digest?: string };
  manifestDigest?: string;
  overlay?: Overlay;
  /** The store's root directory, from any path that shows it. */
  root?: string;
  exit?: ExitEvent;
  /** A walkthrough's notes, by the stage they were shown before. */
  readonly notes = new Map<string, NoteEvent>();
  /** Events folded; changes with every one, so a pane can skip a redraw. */
  version = 0;

  constructor(stageIds: readonly string[], log?: SyscallLog) {
    this.ownsLog = !log;
    this.log = log ?? new SyscallLog(5000);
    for (const id of stageIds) this.row(id);
  }

  private row(id: string): StageRow {
    let i = this.stageRow.get(id);
    if (i === undefined) {
      i = this.stages.length;
      this.stages.push({ id, state: 'waiting', syscalls: 0 });
      this.stageRow.set(id, i);
    }
    return this.stages[i]!;
  }

  stage(id: string): StageRow | undefined {
    const i = this.stageRow.get(id);
    return i === undefined ? undefined : this.stages[i];
  }

  stageIndex(id: string): number {
    return this.stageRow.get(id) ?? -1;
  }

  private rowOfLogStage(logStage: number): StageRow {
    let r = this.logStageToRow[logStage];
    if (r === undefined) {
      this.row(this.log.stageIds[logStage]!);
      r = this.stageRow.get(this.log.stageIds[logStage]!)!;
      this.logStageToRow[logStage] = r;
    }
    return this.stages[r]!;
  }

  apply(e: GlassboxEvent): void {
    this.version++;
    switch (e.kind) {
      case 'header':
        this.header = e;
        if (e.store) this.root ??= e.store;
        if (e.imageDigest) this.manifestDigest ??= e.imageDigest;
        if (e.image && !this.resolved) {
          // What the name means is known before the pull: docker's normalization.
          try {
            const r = parseReference(e.image);
            this.resolved = { reference: e.image, registry: r.domain, repository: r.path, tag: r.tag, digest: r.digest };
          } catch {
            // an image id: no name
          }
        }
        for (const id of e.stages) this.row(id);
        return;
      case 'stage':
        return this.applyStage(e.stage, e.phase, e.t, e.about, e.error, e.id);
      case 'syscall':
        this.syscalls++;
        if (this.ownsLog) {
          const i = this.log.appendSyscall(e);
          this.visible = this.log.total;
          this.rowOfLogStage(this.log.stage(i)).syscalls++;
        }
        return;
      case 'output':
        if (this.ownsLog) {
          this.log.appendOutput(e.data, e.stream, this.log.internStage(this.current ?? ''), e.t);
          this.visible = this.log.total;
        }
        return;
      case 'host':
        return this.applyHost(e.detail);
      case 'snapshot':
        return this.applySnapshot(e.snapshot, e.t);
      case 'exit':
        this.exit = e;
        return;
      case 'note':
        this.notes.set(e.stage, e);
        return;
      default:
        assertNever(e);
    }
  }

  /** Replay: lines [0, n) of the log have happened; counts per stage follow. */
  reveal(n: number): void {
    if (n === this.visible) return;
    this.version++;
    const log = this.log;
    if (n > this.visible) {
      for (let i = this.visible; i < n; i++) {
        if (isSyscallKind(log.kind(i))) {
          this.rowOfLogStage(log.stage(i)).syscalls++;
          this.syscalls++;
        }
      }
    } else {
      for (let i = n; i < this.visible; i++) {
        if (isSyscallKind(log.kind(i))) {
          this.rowOfLogStage(log.stage(i)).syscalls--;
          this.syscalls--;
        }
      }
    }
    this.visible = n;
  }

  private applyStage(id: string, phase: StagePhase, t: number, about?: string, error?: string, cid?: string): void {
    const s = this.row(id);
    if (cid) this.id = cid;
    if (about) {
      s.about = about;
      this.learnPaths(about);
    }
    switch (phase) {
      case 'begin':
        s.state = 'running';
        s.begin = t;
        s.end = undefined;
        s.error = undefined;
        this.current = id;
        if (this.pause?.stage === id) this.pause = undefined;
        return;
      case 'paused':
        s.state = 'paused';
        this.current = id;
        this.pause = { stage: id, about: about ?? s.about ?? '', id: cid ?? this.id };
        return;
      case 'resumed':
        if (s.state === 'paused') s.state = 'waiting';
        if (this.pause?.stage === id) this.pause = undefined;
        return;
      case 'end':
        s.state = 'done';
        s.end = t;
        this.lastEnded = id;
        return;
      case 'failed':
        // An undo that failed is reported as 'failed' too, after the stage had ended.
        if (error?.startsWith('undo:')) {
          s.error = error;
          s.state = 'failed';
          return;
        }
        s.state = 'failed';
        s.end = t;
        s.error = error;
        return;
      case 'undone':
        if (s.state === 'done') s.state = 'undone';
        s.undone = true;
        return;
      default:
        assertNever(phase as never);
    }
  }

  /** Where the store and the container live, read from whatever path names them. */
  private learnPaths(text: string): void {
    const c = /(\/\S*?)\/containers\/([0-9a-f]{64})\b/.exec(text);
    if (c) {
      this.root ??= c[1];
      this.id ??= c[2];
    }
    const l = /(\/\S*?)\/layers\/sha256\/[0-9a-f]{64}\b/.exec(text);
    if (l) this.root ??= l[1];
  }

  private applyHost(d: Extract<GlassboxEvent, { kind: 'host' }>['detail']): void {
    switch (d.what) {
      case 'resolve':
        this.resolved = { reference: d.reference, registry: d.registry, repository: d.repository, tag: d.tag, digest: d.digest };
        return;
      case 'manifest':
        this.manifestDigest = d.digest;
        return;
      case 'layer': {
        const row = this.layers.get(d.digest) ?? { digest: d.digest, diffId: d.diffId, size: d.size, bytes: 0, state: d.state };
        row.diffId = d.diffId;
        row.size = d.size;
        row.bytes = d.bytes;
        row.state = d.state;
        row.unpacked ??= this.unpacks.get(d.diffId);
        this.layers.set(d.digest, row);
        return;
      }
      case 'unpack': {
        const u = { dir: d.dir, stats: d.stats };
        this.unpacks.set(d.diffId, u);
        for (const row of this.layers.values()) if (row.diffId === d.diffId) row.unpacked = u;
        this.learnPaths(d.dir);
        return;
      }
      case 'image':
        this.image = { name: d.name, digest: d.digest, layers: d.layers, size: d.size };
        this.manifestDigest ??= d.digest;
        return;
      case 'http':
      case 'auth':
      case 'retry':
      // The maps reach the panes with the next snapshot (Snapshot.idMaps).
      case 'idmap':
      case 'cgroup-warm':
        return;
      default:
        assertNever(d);
    }
  }

  private applySnapshot(s: Snapshot, t: number): void {
    const before = new Map(this.namespaces.map((n) => [n.type, n.container]));
    this.snapshot = s;
    if (s.id) this.id = s.id;
    for (const n of s.namespaces) {
      const was = before.get(n.type);
      if (n.changed && n.container && was !== n.container && !this.nsBy.has(n.type + n.container)) {
        this.nsBy.set(n.type + n.container, this.namespaceStage(n.type));
      }
    }
    this.namespaces = s.namespaces.map((n) => ({ ...n, by: n.changed ? this.nsBy.get(n.type + n.container) : undefined }));
    for (const m of s.mountinfo) this.learnMount(m);
    this.applyCgroup(s, t);
  }

  /** The stage that made a namespace: ns-uts for uts, ns-pid for pid_for_children; else the stage that ran last. */
  private namespaceStage(type: string): string {
    const base = type === 'pid_for_children' ? 'pid' : type;
    const named = `ns-${base}`;
    const row = this.stage(named);
    if (row && row.state !== 'waiting' && row.state !== 'paused') return named;
    return this.lastEnded ?? this.current ?? '?';
  }

  private learnMount(line: string): void {
    const f = line.split(' ');
    const dash = f.indexOf('-');
    if (dash < 0 || f[dash + 1] !== 'overlay') return;
    const opts = (f[dash + 3] ?? '').split(',');
    const opt = (k: string) => opts.find((o) => o.startsWith(`${k}=`))?.slice(k.length + 1);
    const lower = opt('lowerdir');
    if (!lower) return;
    this.overlay = { lower: lower.split(':'), upper: opt('upperdir'), work: opt('workdir'), mountpoint: f[4] };
    this.learnPaths(line);
  }

  private applyCgroup(s: Snapshot, t: number): void {
    const cg = this.cgroup;
    cg.files = s.cgroup;
    const base = (p: string) => p.slice(p.lastIndexOf('/') + 1);
    const dir = (p: string) => p.slice(0, p.lastIndexOf('/'));
    const value = (f: Snapshot['cgroup'][number]) => (f.now ?? f.written).trim();
    const num = (v: string) => (/^\d+$/.test(v) ? Number(v) : undefined);
    let quota: number | undefined;
    let period: number | undefined;
    const point: CgroupPoint = { t };
    for (const f of s.cgroup) {
      const name = base(f.path);
      const v = value(f);
      switch (name) {
        case 'memory.max':
        case 'memory.limit_in_bytes':
          cg.limits.memory = num(v);
          cg.dir = dir(f.path);
          break;
        case 'pids.max':
          cg.limits.pids = num(v);
          break;
        case 'cpu.max': {
          const [q, p] = v.split(/\s+/);
          quota = num(q ?? '');
          period = num(p ?? '');
          break;
        }
        case 'cpu.cfs_quota_us':
          quota = num(v);
          break;
        case 'cpu.cfs_period_us':
          period = num(v);
          break;
        case 'memory.current':
        case 'memory.usage_in_bytes':
          point.memory = num(v);
          break;
        case 'pids.current':
          point.pids = num(v);
          break;
        case 'cpu.stat':
        case 'cpuacct.usage': {
          const usec = name === 'cpu.stat' ? num(/usage_usec (\d+)/.exec(v)?.[1] ?? '') : (num(v) ?? NaN) / 1000;
          if (usec !== undefined && Number.isFinite(usec)) {
            if (cg.lastCpu && t > cg.lastCpu.t) point.cpu = (usec - cg.lastCpu.usec) / 1000 / (t - cg.lastCpu.t);
            cg.lastCpu = { t, usec };
          }
          break;
        }
      }
    }
    if (quota !== undefined && period) cg.limits.cpu = quota / period;
    // What the cgroup counts now, as the snapshot read it through the cgroup's own stats.
    const u = s.usage;
    if (u) {
      if (u.memoryBytes !== undefined) point.memory = u.memoryBytes;
      if (u.pids !== undefined) point.pids = u.pids;
      if (u.memoryLimit !== undefined) cg.limits.memory ??= u.memoryLimit;
      if (u.pidsMax !== undefined) cg.limits.pids ??= u.pidsMax;
      if (u.cpuUsageUsec !== undefined) {
        if (cg.lastCpu && t > cg.lastCpu.t) point.cpu = (u.cpuUsageUsec - cg.lastCpu.usec) / 1000 / (t - cg.lastCpu.t);
        cg.lastCpu = { t, usec: u.cpuUsageUsec };
      }
    }
    if (!cg.dir && s.cgroup.length) {
      // The container's own directory (named by its id), the memory controller's where there are several.
      const own = s.cgroup.map((f) => dir(f.path)).filter((d) => base(d) === s.id);
      cg.dir = own.find((d) => /\/memory\//.test(d)) ?? own.find((d) => !/\/(devices|systemd|unified)\//.test(d)) ?? own[0] ?? dir(s.cgroup[0]!.path);
    }
    // Without a pids.current file, the processes the snapshot saw are the count.
    if (point.pids === undefined && s.processes.length) point.pids = s.processes.length;
    if (point.memory !== undefined || point.cpu !== undefined || point.pids !== undefined) {
      cg.series.push(point);
      if (cg.series.length > MAX_SERIES) cg.series.splice(0, cg.series.length - MAX_SERIES);
    }
  }

  /** The layers in the order they arrived. */
  layerRows(): LayerRow[] {
    return [...this.layers.values()];
  }

  /** What the lessons' {{placeholders}} stand for in this run, those known so far. */
  placeholders(): Record<string, string> {
    const v: Record<string, string> = {};
    if (this.id) v.id = this.id.slice(0, 12);
    if (this.snapshot?.pid) v.pid = String(this.snapshot.pid);
    if (this.cgroup.dir) v.cgroup = this.cgroup.dir;
    if (this.root) v.root = this.root;
    if (this.root && this.id) v.merged = `${this.root}/containers/${this.id}/merged`;
    else if (this.overlay?.upper) v.merged = this.overlay.upper.replace(/\/upper$/, '/merged');
    const unpacked = [...this.unpacks.values()];
    const layerDir = unpacked.length ? unpacked[unpacked.length - 1]!.dir : this.overlay?.lower[0];
    if (layerDir) v.layerDir = layerDir;
    if (this.resolved) {
      v.registry = this.resolved.registry;
      v.repository = this.resolved.repository;
      if (this.resolved.tag) v.tag = this.resolved.tag;
    }
    if (this.manifestDigest) v.manifestDigest = this.manifestDigest;
    return v;
  }

  /** Count per stage of the stream's lines revealed, for tests and the pipeline. */
  syscallCount(stage: string): number {
    return this.stage(stage)?.syscalls ?? 0;
  }
}

/**
 * The last `limit` lines of the log that match a filter, oldest first, among
 * those revealed. Kept between calls: as lines arrive, only the new ones are
 * looked at; a seek back or a new filter starts over.
 */
export class StreamView {
  private key = '';
  private upTo = 0;
  private idx: number[] = [];
  constructor(readonly limit = 5000) {}

  lines(log: SyscallLog, visible: number, f: StreamFilter): number[] {
    const key = filterKey(f);
    const from = log.first;
    if (key !== this.key || visible < this.upTo) this.reset(key);
    if (filterIsEmpty(f)) {
      // No filter: the last `limit` lines, no scan at all.
      const start = Math.max(from, visible - this.limit);
      this.idx = [];
      for (let i = start; i < visible; i++) this.idx.push(i);
      this.upTo = visible;
      return this.idx;
    }
    const match = matcher(log, f);
    const start = Math.max(this.upTo, from);
    // Looking back from the end: stop once `limit` matches are found.
    const found: number[] = [];
    for (let i = visible - 1; i >= start && found.length < this.limit; i--) if (match(i)) found.push(i);
    found.reverse();
    if (found.length >= this.limit) this.idx = found;
    else {
      const keep = this.idx.filter((i) => i >= from);
      this.idx = keep.concat(found);
      if (this.idx.length > this.limit) this.idx = this.idx.slice(this.idx.length - this.limit);
    }
    this.upTo = visible;
    return this.idx;
  }

  private reset(key: string): void {
    this.key = key;
    this.upTo = 0;
    this.idx = [];
  }
}

export function matcher(log: SyscallLog, f: StreamFilter): (i: number) => boolean {
  const names = f.names?.length ? new Set(f.names.map((n) => log.nameIndex(n) ?? -1)) : undefined;
  const stages = f.stages?.length ? new Set(f.stages.map((s) => log.stageIndex(s) ?? -1)) : undefined;
  const text = f.text?.toLowerCase();
  const errors = !!f.errorsOnly;
  return (i) => {
    const k = log.kind(i);
    if (errors && k !== LINE_ERR && k !== LINE_STDERR) return false;
    if (names && !names.has(log.name(i))) return false;
    if (stages && !stages.has(log.stage(i))) return false;
    if (text && !log.text(i).toLowerCase().includes(text)) return false;
    return true;
  };
}
