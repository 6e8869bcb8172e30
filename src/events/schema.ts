// The one event stream (DESIGN.md section 1). Live runs produce it, trace files
// store it one JSON object a line, every view consumes it. A new kind breaks
// the build wherever a consumer's exhaustive switch does not handle it.

export const SCHEMA_VERSION = 1;

export interface HeaderEvent {
  kind: 'header';
  schema: number;
  glassbox: string;
  t: number;
  host: { kernel: string; arch: string; cgroup: 'v1' | 'v2' | 'hybrid' | 'none'; hostname: string };
  argv: string[];
  /** The image as the user named it; its digest arrives in the host 'image' event. */
  image?: string;
  /** Its manifest digest, when the store had it before the run began. */
  imageDigest?: string;
  /** The store's directory (--root), where the layers and containers live. */
  store?: string;
  /** Which syscalls the tracer recorded: all, the lessons' set, or none. */
  trace: 'full' | 'lesson' | 'off';
  /** The stage ids in the order this run takes them. */
  stages: string[];
}

export type StagePhase = 'begin' | 'paused' | 'resumed' | 'end' | 'failed' | 'undone';

export interface StageEvent {
  kind: 'stage';
  t: number;
  stage: string;
  phase: StagePhase;
  error?: string;
  /** At failed: the exit status glassbox ended with for it (docker's 125-127 where they apply). */
  exitCode?: number;
  /** At begin and paused: what the stage is about to do, as the pause prompt says it. */
  about?: string;
  /** At begin and paused: the container id, once there is one. */
  id?: string;
}

/**
 * One system call, recorded by the native tracer at its exit (or at the
 * death of the thread that made it). Arguments are decoded as strace -f
 * prints them; `t` is the entry time.
 */
export interface SyscallEvent {
  kind: 'syscall';
  /** Entry time, ms since the epoch, with microseconds as the fraction. */
  t: number;
  /** Thread group (process) and thread, as the host sees them. */
  pid: number;
  tid: number;
  /** The stage that was running when the call was made. */
  stage: string;
  nr: number;
  name: string;
  args: string[];
  /** The return value; null when the call never returned (exit_group, a thread killed inside it). */
  ret: number | null;
  /** errno name when the call failed (ret is then -1, as strace shows it). */
  err?: string;
  /** Microseconds from entry to exit, tracer overhead included (strace -T). */
  dur: number;
  /** The file behind the fd argument, when the tracer knows it (read, write, close...). */
  fd?: string;
}

/** A chunk of the container's output (recorded only when glassbox carries its stdio). */
export interface OutputEvent {
  kind: 'output';
  t: number;
  stream: 'stdout' | 'stderr';
  data: string;
}

/** How the container's program ended. */
export interface ExitEvent {
  kind: 'exit';
  t: number;
  /** Exit status, or the signal that killed it. */
  status?: number;
  signal?: number;
  /** The shell's view of it: status, or 128 + signal. */
  code: number;
  oomKilled?: boolean;
  /** The --memory limit in bytes, when there was one (the OOM line names it). */
  memoryLimit?: number;
}

export type LayerState =
  | 'waiting'
  | 'exists'
  | 'downloading'
  | 'retrying'
  | 'verifying'
  | 'done'
  | 'failed';

export interface UnpackStats {
  files: number;
  dirs: number;
  symlinks: number;
  hardlinks: number;
  whiteouts: number;
  opaques: number;
  devices: number;
  fifos: number;
  xattrs: number;
  bytes: number;
}

/** What the Node process did that a syscall tracer cannot see or name. */
export type HostDetail =
  | { what: 'resolve'; input: string; reference: string; registry: string; repository: string; tag?: string; digest?: string }
  | { what: 'http'; method: string; url: string; status: number; bytes?: number; ms: number; attempt: number }
  | { what: 'auth'; scheme: 'bearer' | 'basic'; realm?: string; service?: string; scope?: string; user?: string }
  | { what: 'retry'; url: string; attempt: number; delayMs: number; reason: string }
  | { what: 'manifest'; digest: string; mediaType: string; platform?: string; candidates?: string[] }
  | { what: 'layer'; digest: string; diffId: string; size: number; bytes: number; state: LayerState }
  | { what: 'unpack'; diffId: string; dir: string; stats: UnpackStats; samples: string[] }
  | { what: 'image'; name: string; digest: string; layers: number; size: number }
  /** --userns: a uid_map or gid_map glassbox wrote for the helper, from outside (the tracer cannot see Node's writes). */
  | { what: 'idmap'; pid: number; file: 'uid_map' | 'gid_map'; text: string }
  /** glassbox's own PID written to the cgroup it is in: a move of nothing, so the kernel's wait before a first move passes before the join; repeated, instantly, every few ms until the helper has left (runtime/cgroup warmCgroupMoves). ms is the first write's. */
  | { what: 'cgroup-warm'; file: string; pid: number; ms: number };

export interface HostEvent {
  kind: 'host';
  t: number;
  detail: HostDetail;
}

/** What is observable of the container at a pause (runtime/snapshot.ts takes it). */
export interface Snapshot {
  id: string;
  stage: string;
  /** The process looked at: init once it exists, else the helper. */
  pid?: number;
  namespaces: { type: string; host: string; container: string; changed: boolean }[];
  /** --userns, once its user namespace exists: /proc/PID/uid_map and gid_map, a line per range ("0 100000 65536"). */
  idMaps?: { uid: string[]; gid: string[] };
  mountinfo: string[];
  cgroup: { path: string; written: string; now?: string; why: string }[];
  interfaces: string[];
  processes: { pid: number; comm: string }[];
  /** What the cgroup counts now (its memory, CPU time, tasks), once it exists. */
  usage?: { memoryBytes?: number; memoryLimit?: number; cpuUsageUsec?: number; pids?: number; pidsMax?: number; oomKills?: number };
}

export interface SnapshotEvent {
  kind: 'snapshot';
  t: number;
  snapshot: Snapshot;
}

/** A walkthrough's note for the pause before a stage (glassbox lesson), with this run's values in it. */
export interface NoteEvent {
  kind: 'note';
  t: number;
  stage: string;
  heading?: string;
  /** Markdown. */
  text: string;
}

export type GlassboxEvent = HeaderEvent | StageEvent | HostEvent | SnapshotEvent | SyscallEvent | OutputEvent | ExitEvent | NoteEvent;

export type EventSink = (e: GlassboxEvent) => void;

export const dropEvents: EventSink = () => {};

export function hostEvent(detail: HostDetail): HostEvent {
  return { kind: 'host', t: Date.now(), detail };
}

export function assertNever(x: never): never {
  throw new Error(`unhandled event: ${JSON.stringify(x)}`);
}
