// The helper protocol (native/helper/shim.cc): one JSON object a line on the
// shim's fd 3. Every command the runtime can ask of the kernel is a row of
// this table; a recorder or a replayer covers all of them through call().

export const PROTOCOL_VERSION = 6;

export type CloneFlag = 'CLONE_NEWNS' | 'CLONE_NEWUTS' | 'CLONE_NEWIPC' | 'CLONE_NEWNET' | 'CLONE_NEWPID' | 'CLONE_NEWUSER' | 'CLONE_NEWCGROUP';

export type MountFlag =
  | 'MS_RDONLY'
  | 'MS_NOSUID'
  | 'MS_NODEV'
  | 'MS_NOEXEC'
  | 'MS_REMOUNT'
  | 'MS_BIND'
  | 'MS_REC'
  | 'MS_PRIVATE'
  | 'MS_SLAVE'
  | 'MS_SHARED'
  | 'MS_RELATIME'
  | 'MS_STRICTATIME'
  | 'MS_NOATIME'
  | 'MS_MOVE';

/** A device the container may use: 'a' any type, -1 any number; access from "rwm". */
export interface DeviceRule {
  type: 'a' | 'b' | 'c';
  major: number;
  minor: number;
  access: string;
}

/** A namespace as /proc/PID/ns names it; setns joins them in the order given (user first). */
export type NsType = 'user' | 'ipc' | 'uts' | 'net' | 'cgroup' | 'pid' | 'mnt';

/** Command name -> [arguments, reply]. */
export interface Commands {
  hello: [Record<string, never>, { version: number; pid: number }];
  unshare: [{ flags: CloneFlag[] }, Record<string, never>];
  sethostname: [{ name: string }, Record<string, never>];
  mount: [{ source?: string; target: string; fstype?: string; flags?: MountFlag[]; data?: string }, Record<string, never>];
  umount: [{ target: string; detach?: boolean }, Record<string, never>];
  /** An existing directory is fine unless `exclusive`. */
  mkdir: [{ path: string; mode?: number; exclusive?: boolean }, Record<string, never>];
  /** Attach a BPF_CGROUP_DEVICE program allowing only these devices to a cgroup v2 directory. */
  device_filter: [{ path: string; rules: DeviceRule[] }, Record<string, never>];
  /** open(O_WRONLY) and one write(2) of all of data: a cgroup file. */
  write_file: [{ path: string; data: string }, Record<string, never>];
  mknod: [{ path: string; mode: number; major?: number; minor?: number }, Record<string, never>];
  symlink: [{ target: string; path: string }, Record<string, never>];
  pivot_root: [{ root: string }, Record<string, never>];
  chdir: [{ path: string }, Record<string, never>];
  /** Hide a path: /dev/null over a file, an empty read-only tmpfs over a directory. */
  mask: [{ path: string }, { skipped?: boolean }];
  /** Bind a path on itself, read-only. */
  readonly: [{ path: string }, { skipped?: boolean }];
  no_new_privs: [Record<string, never>, Record<string, never>];
  /** setrlimit for each; soft or hard -1 is unlimited. */
  rlimits: [{ limits: { type: string; soft: number; hard: number }[] }, Record<string, never>];
  /** A deny-list seccomp filter: EPERM for `deny`, ENOSYS for `enosys`, EPERM for clone with nsMask flags. */
  seccomp: [{ deny: number[]; enosys: number[]; clone: number; nsMask: number }, Record<string, never>];
  /** Resolve "user[:group]" in the container's /etc/passwd and /etc/group. */
  resolve_user: [{ spec: string }, { uid: number; gid: number; groups: number[]; home: string }];
  /** setgroups, setgid, setuid. */
  user: [{ uid: number; gid: number; groups: number[] }, Record<string, never>];
  /** Keep only these capabilities (bounding, effective, permitted); the rest are dropped for good. */
  capabilities: [{ keep: string[] }, { effective: string }];
  /** Join the namespaces of another process, in order (glassbox exec). */
  setns: [{ pid: number; types: NsType[] }, Record<string, never>];
  /**
   * A detached copy of the mount at path (open_tree OPEN_TREE_CLONE), held
   * open by the shim; with idmap (a /proc/PID/ns/user file), idmapped through
   * that user namespace's maps (mount_setattr MOUNT_ATTR_IDMAP).
   */
  open_tree: [{ path: string; idmap?: string }, { fd: number }];
  /** Attach a mount open_tree gave at target (move_mount), closing its fd. */
  move_mount: [{ fd: number; target: string }, Record<string, never>];
  /** lchown: a directory the container's mapped root must own. */
  chown: [{ path: string; uid: number; gid: number }, Record<string, never>];
  /** setsid, then make fd 0 (a pty) the controlling terminal. */
  setsid_ctty: [Record<string, never>, Record<string, never>];
  /** Bring up "lo" in the shim's network namespace. */
  loopback_up: [Record<string, never>, Record<string, never>];
  /** Fork PID 1 of the new PID namespace; it answers from now on. */
  fork_init: [Record<string, never>, { pid: number }];
  /** Replace init with the container's program. The answer comes just before execve. */
  exec: [{ argv: string[]; env: string[]; cwd?: string }, { path: string }];
}

export type Command = keyof Commands;
export type Args<C extends Command> = Commands[C][0];
export type Reply<C extends Command> = Commands[C][1];

/** What a batch may hold: every command but those that change who answers, or start a conversation. */
export type BatchCommand = Exclude<Command, 'hello' | 'fork_init' | 'exec'>;
export type BatchItem = { [C in BatchCommand]: { cmd: C } & (string extends keyof Args<C> ? unknown : Args<C>) }[BatchCommand];

/** What the shim says without being asked. */
export type HelperEvent =
  | { event: 'init'; pid: number }
  | { event: 'exit'; status: number }
  | { event: 'exit'; signal: number; core: boolean }
  | { event: 'exec_failed'; errno: string; path: string; message: string };

export interface ErrorReply {
  id: number;
  ok: false;
  errno: string;
  syscall: string;
  path: string;
  message: string;
  /** In a batch: which command failed (those before it were done). */
  index?: number;
}

/** The door every stage goes through: the live shim, or a trace replaying one. */
export interface Helper {
  call<C extends Command>(cmd: C, args: Args<C>): Promise<Reply<C>>;
  /**
   * Several commands in one round trip, done in order as if each were sent
   * alone (the shim's "batch"). The first that fails rejects the whole with
   * its own error; those before it are done, those after it are not.
   */
  batch(items: BatchItem[]): Promise<Record<string, unknown>[]>;
  /** Host PID of the shim, and of the container's init once forked. */
  readonly pid: number;
  readonly initPid: number | undefined;
  /** Settles when init has exited (status, or the signal that killed it). */
  readonly exited: Promise<{ status?: number; signal?: number }>;
  /** Set when execve failed after the exec command was answered (a file that is not executable, say). */
  readonly execFailure?: { errno: string; path: string; message: string };
  kill(signal?: NodeJS.Signals): void;
  /** Kill the container and wait until nothing of it is left. */
  stop(): Promise<void>;
  /** Tag the syscalls made from now on with this stage (an index into the run's stages); a no-op untraced. */
  setStage?(index: number): void;
  /** Tag from the next successful execve on with this stage (the program's first syscall is already 'running'). */
  setStageOnExec?(index: number): void;
  /** Settles when the tracer has handed over its last syscall. */
  readonly traced?: Promise<void>;
}
