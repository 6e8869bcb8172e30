// What the stages of one run share. Each stage reads what earlier ones put
// here and adds its own; undo uses the same fields to take it away again.
import type { EventSink } from '../events/schema.js';
import type { ImageConfig, ImageManifest } from '../image/mediatypes.js';
import type { ImageRecord, Store } from '../image/store.js';
import type { Cgroup, CgroupLimits } from './cgroup/index.js';
import type { Helper } from './helper/protocol.js';
import type { StdioSlot } from './helper/live.js';
import type { UsernsMaps } from './userns.js';

export interface RunOptions {
  /** Image reference, ID or digest. */
  image: string;
  /** Command to run instead of the image's Cmd (the Entrypoint stays). */
  command?: string[];
  entrypoint?: string[];
  env?: string[];
  workdir?: string;
  hostname?: string;
  /** --name: unique among the store's containers. */
  name?: string;
  /** --rm: remove the container when it exits (else it is kept, exited, until glassbox rm). */
  rm?: boolean;
  /** "user[:group]", names or numbers, as docker's -u. */
  user?: string;
  /** --security-opt no-new-privileges */
  noNewPrivileges?: boolean;
  /** --security-opt seccomp=unconfined turns the default syscall filter off. */
  seccomp?: boolean;
  /** --ulimit: resource limits the program starts with (else glassbox's own, as docker passes its daemon's). */
  rlimits?: { type: string; soft: number; hard: number }[];
  /** none: a network namespace with only loopback (the default); host: the host's network. */
  network?: 'none' | 'host';
  /** --userns, --uidmap, --gidmap: a user namespace with these maps (else the container's root is the host's). */
  userns?: UsernsMaps;
  /** --memory, --cpus, --pids-limit */
  limits?: CgroupLimits;
  /** -d: the program's stdout and stderr go to containers/<id>/container.log. */
  detached?: boolean;
  /** -i: the program reads glassbox's stdin (else /dev/null, as docker). */
  interactive?: boolean;
  /** -t: the program gets a pseudo-terminal of its own. */
  tty?: boolean;
  ttySize?: { rows: number; cols: number };
  /** Called once the program runs: run -d prints the id then, run -t starts copying the terminal. */
  onStarted?: (ctx: RunContext) => void;
  /** Container's stdio: inherited by default. */
  stdio?: [StdioSlot, StdioSlot, StdioSlot];
  /** Which syscalls the tracer records into the event stream (default off). */
  trace?: 'full' | 'lesson' | 'off';
  /**
   * glassbox carries the program's stdout and stderr through pipes, writing
   * them to its own and emitting output events (for --record and the TUI).
   * Not with -t or -d, whose output has its own way.
   */
  carryOutput?: { stdout?: NodeJS.WritableStream; stderr?: NodeJS.WritableStream };
}

export interface ContainerDirs {
  /** containers/<id>/ */
  root: string;
  upper: string;
  work: string;
  /** --userns: lower/0, lower/1, ...: where the idmapped layers are attached, inside the container's mount namespace only. */
  lower: string;
  /** The overlay mount point, inside the container's mount namespace only. */
  merged: string;
}

export interface RunContext {
  readonly store: Store;
  readonly options: RunOptions;
  readonly events: EventSink;
  /** Ctrl-C or SIGTERM of glassbox itself. */
  readonly signal?: AbortSignal;
  /** The stage ids of this run, in order (syscalls are tagged with an index into it). */
  readonly stageIds: readonly string[];
  /** Settles when the carried output (carryOutput) has all been read. */
  outputDone?: Promise<void>;
  /** Full id (64 hex); docker shows the first 12. */
  id: string;
  image?: { record: ImageRecord; manifest: ImageManifest; config: ImageConfig; layers: string[] };
  dirs?: ContainerDirs;
  helper?: Helper;
  cgroup?: Cgroup;
  /** glassbox's moves of itself into its own cgroup (runtime/cgroup warmCgroupMoves): first settles when the first is done. */
  cgroupWarm?: { first: Promise<void>; stop(): void };
  /** -t: the pty master, and whether the caller took it over (it closes it then). */
  ptyMaster?: number;
  ptyTaken?: boolean;
  /** The kernel's OOM killer ended the program (the memory limit). */
  oomKilled?: boolean;
  /** Who the program runs as. */
  user?: { uid: number; gid: number; groups: number[]; home: string };
  /** What exec ran, for the exit line. */
  argv?: string[];
  exit?: { status?: number; signal?: number };
}

/** An exit status as a shell reports it: the status, or 128 + the signal that killed the program. */
export function exitCodeOf(exit: { status?: number; signal?: number }): number {
  return exit.signal !== undefined ? 128 + exit.signal : (exit.status ?? 1);
}
