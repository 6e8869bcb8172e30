// The one entry to cgroups: find how the host mounts them, make a container's
// cgroup, join processes to it, read it, tear it down. The kernel variants
// live side by side behind this file (v1.ts, v2.ts), as in crun's
// cgroup-v1.c and cgroup-v2.c.
//
// Three host layouts:
//   v2      cgroup2 at /sys/fs/cgroup, every controller in one tree.
//   v1      one cgroup (v1) mount per controller under /sys/fs/cgroup.
//   hybrid  v1 controllers, plus a cgroup2 mount (systemd's, at
//           /sys/fs/cgroup/unified) with no controllers, used only to track
//           processes. runc limits through v1 and joins the cgroup2 tree too
//           (opencontainers/cgroups fs/fs.go adds a "" subsystem when
//           IsCgroup2HybridMode), so glassbox does the same.

import { closeSync, constants, existsSync, openSync, readFileSync, statfsSync, write as fsWrite } from 'node:fs';
import { open, readFile, readdir, rmdir, mkdir, stat } from 'node:fs/promises';
import type { DeviceRule } from '../helper/protocol.js';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { GlassboxError, errnoOf } from '../../util/errors.js';
import { applyV1, DEVICE_ALLOW, statsV1, v1Places, SYSTEMD_NAMED, V1_KNOWN } from './v1.js';
import { applyV2, enableV2, statsV2, V2_CONTROLLERS } from './v2.js';

export type CgroupMode = 'v2' | 'v1' | 'hybrid';

/**
 * What to limit. A field left out is not limited; a number is written to the
 * kernel as it is (after unit conversion), so the kernel judges it. Docker's
 * "0 means unlimited" for --memory and --cpus, and "0 or -1" for
 * --pids-limit, belong to the flag parser, which then leaves the field out.
 */
export interface CgroupLimits {
  memoryBytes?: number;
  /** 0.5 is half of one CPU's time. */
  cpus?: number;
  pidsMax?: number;
}

/** A cgroup file glassbox wrote, the value, and why: what the lesson shows. */
export interface WrittenFile {
  path: string;
  value: string;
  why: string;
}

export interface CgroupStats {
  memoryBytes?: number;
  /** Absent when unlimited. */
  memoryLimit?: number;
  cpuUsageUsec?: number;
  pids?: number;
  /** Absent when unlimited. */
  pidsMax?: number;
  /** OOM kills in this cgroup (v2 memory.events, v1 memory.oom_control). */
  oomKills?: number;
}

export interface CgroupLayout {
  mode: CgroupMode;
  /** The cgroup2 mount: the whole tree on v2, the tracking-only tree on hybrid. */
  v2Root?: string;
  /** v1 controller (or 'name=systemd') -> its mount point; co-mounted controllers share one. */
  v1Roots: Record<string, string>;
}

export interface Cgroup {
  readonly mode: CgroupMode;
  readonly name: string;
  /**
   * The container's own directories, one per hierarchy, in the order they are
   * joined. The shared parent (/sys/fs/cgroup/…/glassbox) is not among them:
   * it stays, as /sys/fs/cgroup/…/docker stays for docker.
   */
  readonly paths: string[];
  /** Every file written so far, setup and joins, in order. */
  readonly written: WrittenFile[];
  /** Move a process (all its threads) into the cgroup in every hierarchy. */
  join(pid: number): Promise<void>;
  /** Move a process back to glassbox's own cgroups (the helper, once it has forked PID 1). */
  leave(pid: number): Promise<void>;
  stats(): Promise<CgroupStats>;
  /** Every process in the cgroup or below it, in any of its hierarchies. */
  procs(): Promise<number[]>;
  /**
   * SIGKILL whatever is left (through cgroup.kill where the kernel has it),
   * wait until the cgroup is empty, remove every directory. Safe to call again.
   */
  destroy(): Promise<void>;
}

/** What v1.ts and v2.ts use to touch cgroupfs; it records writes and names failures. */
export interface CgroupFiles {
  write(path: string, value: string, why: string): Promise<void>;
  /** The file's text, or undefined when it does not exist. */
  read(path: string): Promise<string | undefined>;
  exists(path: string): Promise<boolean>;
}

export const DEFAULT_PARENT = 'glassbox';

const CGROUP2_SUPER_MAGIC = 0x63677270;
const CGROUP_SUPER_MAGIC = 0x27e0eb;

// ---------------------------------------------------------------- detection

interface MountEntry {
  mountPoint: string;
  fsType: string;
  superOptions: string[];
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    // The optional fields end with a lone "-"; fstype, source and super options follow.
    const sep = f.indexOf('-', 6);
    if (sep < 0 || f.length < sep + 4) continue;
    out.push({ mountPoint: unescapeMount(f[4]!), fsType: f[sep + 1]!, superOptions: f[sep + 3]!.split(',') });
  }
  return out;
}

/**
 * How the host mounts cgroups, from /proc/self/mountinfo (or the text given).
 * A mount hidden by a later one at the same place is ignored; on the live host
 * each mount point is also checked with statfs, as runc checks its magic.
 */
export function detectCgroups(mountinfo?: string): CgroupLayout {
  const live = mountinfo === undefined;
  const text = mountinfo ?? readMountinfo();
  const last = new Map<string, MountEntry>();
  for (const m of parseMountinfo(text)) {
    last.delete(m.mountPoint);
    last.set(m.mountPoint, m);
  }
  const isType = (path: string, magic: number): boolean => {
    if (!live) return true;
    try {
      return statfsSync(path).type === magic;
    } catch {
      return false;
    }
  };
  const v1Roots: Record<string, string> = {};
  const v2Mounts: string[] = [];
  for (const m of last.values()) {
    if (m.fsType === 'cgroup2' && isType(m.mountPoint, CGROUP2_SUPER_MAGIC)) v2Mounts.push(m.mountPoint);
    if (m.fsType === 'cgroup' && isType(m.mountPoint, CGROUP_SUPER_MAGIC)) {
      for (const o of m.superOptions) if (V1_KNOWN.has(o) || o.startsWith('name=')) v1Roots[o] ??= m.mountPoint;
    }
  }
  const v2Root = v2Mounts.find((p) => p === '/sys/fs/cgroup') ?? v2Mounts.find((p) => p === '/sys/fs/cgroup/unified') ?? v2Mounts[0];
  const controllers = Object.keys(v1Roots).filter((k) => !k.startsWith('name='));
  if (controllers.length > 0) return v2Root ? { mode: 'hybrid', v2Root, v1Roots } : { mode: 'v1', v1Roots };
  // A named v1 hierarchy beside a real cgroup2 tree (systemd's legacy
  // compatibility mount) holds no limits: the host is v2.
  if (v2Root) return { mode: 'v2', v2Root, v1Roots: {} };
  throw new GlassboxError('no cgroup filesystem is mounted (none in /proc/self/mountinfo)', { op: 'cgroup', code: 'ENOENT' });
}

/**
 * A head start on the kernel's wait for the helper's join. The first move of
 * a process between cgroups after a quiet spell (a write to any cgroup.procs)
 * waits for an RCU grace period, while the kernel's cgroup_threadgroup_rwsem
 * leaves its fast mode: 5-15 ms here, nearly all of a join, and runc's run
 * pays it too. The lock goes back to its fast mode a grace period after the
 * last move. So a run begins with a move that moves nothing: glassbox writes
 * its own PID into the cgroup.procs of the cgroup it is already in, on a
 * thread-pool thread, and the wait passes while the container's directory and
 * the helper are made. Until stop() (once the helper has joined the cgroup and
 * left it again), the same write is repeated every few milliseconds, each one
 * instant, so the lock is still in its slow mode whenever the join comes. If
 * the write fails, nothing changed and the join only waits as it would have.
 * All but the first write's own work is done at once, so it is on its thread
 * at the first turn of the event loop, however busy the main thread stays.
 */
export interface CgroupWarm {
  /** Settles when the first write is done: which file, and how long it took. */
  readonly first: Promise<{ file: string; ms: number } | undefined>;
  /** No more writes. */
  stop(): void;
}

/** How often the warm-up write is repeated: well under a grace period (a few ms or more). */
const KEEP_WARM_MS = 3;
/** No run needs it longer (a pause makes it pointless). */
const KEEP_WARM_LIMIT_MS = 2000;

export function warmCgroupMoves(): CgroupWarm {
  let fd: number | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const close = () => {
    if (fd !== undefined) closeSync(fd);
    fd = undefined;
  };
  const stop = () => {
    stopped = true;
    clearTimeout(timer);
    close();
  };
  try {
    const layout = detectCgroups();
    const mine = ownCgroups();
    const v2 = layout.v2Root ? mine.find((c) => c.controllers.length === 0) : undefined;
    const v1 = mine.find((c) => c.controllers.length > 0 && layout.v1Roots[c.controllers[0]!] !== undefined);
    const file = v2 ? join(layout.v2Root!, v2.path, 'cgroup.procs') : v1 ? join(layout.v1Roots[v1.controllers[0]!]!, v1.path, 'cgroup.procs') : undefined;
    if (!file) return { first: Promise.resolve(undefined), stop };
    fd = openSync(file, constants.O_WRONLY);
    const pid = String(process.pid);
    const began = Date.now();
    const again = () => {
      if (stopped || fd === undefined || Date.now() - began > KEEP_WARM_LIMIT_MS) return stop();
      fsWrite(fd, pid, (err) => (err ? stop() : (timer = setTimeout(again, KEEP_WARM_MS).unref())));
    };
    const t0 = process.hrtime.bigint();
    const first = new Promise<{ file: string; ms: number } | undefined>((resolve) =>
      fsWrite(fd!, pid, (err) => {
        if (err) {
          stop();
          return resolve(undefined);
        }
        resolve({ file: file!, ms: Number(process.hrtime.bigint() - t0) / 1e6 });
        if (!stopped) timer = setTimeout(again, KEEP_WARM_MS).unref();
      }),
    );
    return { first, stop };
  } catch {
    stop();
    return { first: Promise.resolve(undefined), stop };
  }
}

/** glassbox's own cgroups, from /proc/self/cgroup: "ID:CONTROLLERS:PATH" a hierarchy; cgroup2's line names no controller. */
function ownCgroups(): { controllers: string[]; path: string }[] {
  const out: { controllers: string[]; path: string }[] = [];
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const a = line.indexOf(':');
    const b = line.indexOf(':', a + 1);
    if (a <= 0 || b <= a) continue;
    const list = line.slice(a + 1, b);
    out.push({ controllers: list ? list.split(',') : [], path: line.slice(b + 1) });
  }
  return out;
}

function readMountinfo(): string {
  try {
    // Sync on purpose: one small read, and a sync detectCgroups can be called anywhere (header events, flags).
    return readFileSync('/proc/self/mountinfo', 'utf8');
  } catch (e) {
    throw new GlassboxError(`cannot read it: ${errnoOf(e) ?? String(e)}`, { op: 'read', subject: '/proc/self/mountinfo', code: errnoOf(e), cause: e });
  }
}

// ------------------------------------------------------------ files and errors

/**
 * Who makes the directories and writes the files: Node itself, or a process
 * the tracer watches (the helper), so a trace shows every write.
 */
export interface CgroupIO {
  /** Fails with EEXIST when exclusive and the directory is there. */
  mkdir(path: string, exclusive: boolean): Promise<void>;
  write(path: string, value: string): Promise<void>;
  /** cgroup v2's device control: a BPF program on the directory (v1 has devices.allow). */
  deviceFilter?(path: string, rules: DeviceRule[]): Promise<void>;
}

/** v1's devices.allow lines ("c 1:3 rwm") as rules for cgroup v2's BPF device program. */
export const DEVICE_RULES: DeviceRule[] = DEVICE_ALLOW.map(([line]) => {
  const [type, nums, access] = line.split(' ') as ['a' | 'b' | 'c', string, string];
  const [major, minor] = nums.split(':').map((n) => (n === '*' ? -1 : Number(n))) as [number, number];
  return { type, major, minor, access };
});

/**
 * Through an io (the helper), requests are pipelined: each goes at once and
 * is answered in order, and flush() waits for all of them, failing with the
 * first failure. A read, an exists or the end of an operation flushes first,
 * so nothing reads what is not written yet. One round trip per file cost
 * the cgroup stage 15 ms on a hybrid host.
 */
class Files implements CgroupFiles {
  readonly written: WrittenFile[] = [];
  private pending: Promise<void>[] = [];

  constructor(private readonly io?: CgroupIO) {}

  private queue(p: Promise<void>): void {
    // Handled here so a failure is never "unhandled" before flush() looks at it.
    p.catch(() => undefined);
    this.pending.push(p);
  }

  /** Queue another helper request in order with the writes. */
  async run(op: () => Promise<void>): Promise<void> {
    this.queue(op());
  }

  async flush(): Promise<void> {
    const all = this.pending;
    this.pending = [];
    await Promise.all(all);
  }

  async mkdir(path: string, exclusive: boolean): Promise<void> {
    const failed = (e: unknown) => {
      if (!exclusive && errnoOf(e) === 'EEXIST') return;
      throw fsError('mkdir', path, e);
    };
    if (this.io) this.queue(this.io.mkdir(path, exclusive).catch(failed));
    else await mkdir(path).catch(failed);
  }

  /** Several files written from Node side by side (each a trip to the thread pool), listed in the order given. */
  async writeAllFromNode(items: { path: string; value: string; why: string }[]): Promise<void> {
    await this.flush();
    const results = await Promise.allSettled(items.map((i) => writeCgroupFile(i.path, i.value)));
    items.forEach((i, n) => results[n]!.status === 'fulfilled' && this.written.push(i));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  async write(path: string, value: string, why: string, fromNode = false): Promise<void> {
    if (this.io && !fromNode) {
      this.queue(
        this.io.write(path, value).catch((e: unknown) => {
          throw writeError(path, value, e);
        }),
      );
    } else {
      await this.flush();
      await writeCgroupFile(path, value);
    }
    this.written.push({ path, value, why });
  }

  async read(path: string): Promise<string | undefined> {
    await this.flush();
    return readCgroupFile(path);
  }

  async exists(path: string): Promise<boolean> {
    await this.flush();
    return existsSync(path);
  }
}

/** One write(2) of the whole value, no O_CREAT or O_TRUNC: cgroupfs files take a value per write. */
async function writeCgroupFile(path: string, value: string): Promise<void> {
  let fh;
  try {
    fh = await open(path, constants.O_WRONLY);
    await fh.write(value);
  } catch (e) {
    throw writeError(path, value, e);
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

function writeError(path: string, value: string, e: unknown): GlassboxError {
  const code = errnoOf(e) ?? 'EIO';
  const hint: Record<string, string> = {
    EINVAL: `the kernel refused "${value}"`,
    EBUSY: path.endsWith('limit_in_bytes') ? `usage is already above "${value}"` : `busy, refused "${value}"`,
    ENOENT: 'no such file: the controller is not enabled for this cgroup',
    EACCES: 'permission denied: writing cgroups needs root (or a delegated cgroup)',
    EPERM: 'not permitted: writing cgroups needs root (or a delegated cgroup)',
    EOPNOTSUPP: 'not supported by this kernel',
    ESRCH: 'no such process',
  };
  return new GlassboxError(`${code}${hint[code] ? ` (${hint[code]})` : ''}`, { op: 'write', subject: path, code, cause: e });
}

async function readCgroupFile(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if (errnoOf(e) === 'ENOENT' || errnoOf(e) === 'ENODEV') return undefined;
    throw new GlassboxError(errnoOf(e) ?? String(e), { op: 'read', subject: path, code: errnoOf(e), cause: e });
  }
}

function fsError(op: string, path: string, e: unknown): GlassboxError {
  const code = errnoOf(e) ?? 'EIO';
  const hint = op === 'mkdir' && code === 'EEXIST' ? ' (a cgroup of this name already exists)' : '';
  return new GlassboxError(`${code}${hint}`, { op, subject: path, code, cause: e });
}

// ------------------------------------------------------------------ the cgroup

type Kind = 'v2' | 'v1' | 'named' | 'unified';

interface Place {
  root: string;
  kind: Kind;
  controllers: string[];
}

interface Dir extends Place {
  path: string;
}

/** Where a container gets a directory, in join order (runc's: v1 controllers, named, then unified). */
function placesFor(layout: CgroupLayout, limits: CgroupLimits): Place[] {
  if (layout.mode === 'v2') return [{ root: layout.v2Root!, kind: 'v2', controllers: [...V2_CONTROLLERS] }];
  const places: Place[] = v1Places(layout.v1Roots, limits).map((p) => ({
    root: p.root,
    kind: p.controllers.includes(SYSTEMD_NAMED) ? 'named' : 'v1',
    controllers: p.controllers,
  }));
  if (layout.mode === 'hybrid') places.push({ root: layout.v2Root!, kind: 'unified', controllers: [] });
  return places;
}

function joinWhy(d: Dir): string {
  switch (d.kind) {
    case 'v2':
      return 'join: the process, and every process it forks from now on, is counted and limited by this cgroup';
    case 'v1':
      return `join the ${d.controllers.join(',')} hierarchy: in cgroup v1 every controller is its own tree, so a process is moved in each one`;
    case 'named':
      return 'join the named systemd hierarchy: it has no controller, systemd tracks processes with it; runc joins it too (fs.go, NameGroup name=systemd)';
    case 'unified':
      return 'hybrid host: join the cgroup2 tree too; it has no controllers here, it tracks processes and gives cgroup.kill; runc joins it when IsCgroup2HybridMode';
  }
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

function checkName(what: string, s: string, slashes: boolean): string[] {
  const parts = slashes ? s.split('/') : [s];
  if (s.length === 0 || s.length > 255 || parts.some((p) => !NAME_RE.test(p) || p === '..')) {
    throw new GlassboxError(`invalid cgroup ${what} ${JSON.stringify(s)}: use letters, digits, '_', '.' and '-'${slashes ? ", levels split by '/'" : ''}`, {
      op: 'cgroup',
      code: 'EINVAL',
    });
  }
  return parts;
}

function checkLimits(l: CgroupLimits): void {
  const bad = (k: keyof CgroupLimits, integer: boolean): boolean => {
    const v = l[k];
    return v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v)));
  };
  for (const [k, integer] of [['memoryBytes', true], ['cpus', false], ['pidsMax', true]] as const) {
    if (bad(k, integer)) throw new GlassboxError(`invalid cgroup limit ${k}=${String(l[k])}: expected ${integer ? 'an integer' : 'a number'}`, { op: 'cgroup', code: 'EINVAL' });
  }
}

class Group implements Cgroup {
  private destroying: Promise<void> | undefined;

  constructor(
    readonly mode: CgroupMode,
    readonly name: string,
    private readonly dirs: Dir[],
    private readonly files: Files,
  ) {}

  get paths(): string[] {
    return this.dirs.map((d) => d.path);
  }

  get written(): WrittenFile[] {
    return this.files.written;
  }

  async join(pid: number): Promise<void> {
    if (!Number.isInteger(pid) || pid <= 0) throw new GlassboxError(`invalid pid ${pid}`, { op: 'cgroup join', subject: this.name, code: 'EINVAL' });
    for (const d of this.dirs) await this.files.write(join(d.path, 'cgroup.procs'), String(pid), joinWhy(d));
    await this.files.flush();
  }

  async leave(pid: number): Promise<void> {
    // Back to glassbox's own cgroup in each hierarchy: a leaf with a process
    // in it already, so v2's rule against processes in inner cgroups holds.
    const mine = ownCgroups();
    const moves: { path: string; value: string; why: string }[] = [];
    for (const d of this.dirs) {
      const own = mine.find((c) => (d.kind === 'v2' || d.kind === 'unified' ? c.controllers.length === 0 : c.controllers.some((x) => d.controllers.includes(x))));
      if (!own) continue;
      moves.push({ path: join(d.root, own.path, 'cgroup.procs'), value: String(pid), why: 'take the helper out: only the container counts against its limits' });
    }
    // From Node, not the helper: by now the helper is in a cgroup namespace of its own and cannot name this cgroup.
    await this.files.writeAllFromNode(moves);
  }

  stats(): Promise<CgroupStats> {
    if (this.mode === 'v2') return statsV2(this.files, this.dirs[0]!.path);
    return statsV1(this.files, (c) => this.dirs.find((d) => d.kind === 'v1' && d.controllers.includes(c))?.path);
  }

  procs(): Promise<number[]> {
    return procsOf(this.paths);
  }

  destroy(): Promise<void> {
    this.destroying ??= teardown(this.name, this.paths, this.dirs.find((d) => d.kind === 'v2' || d.kind === 'unified')?.path).catch((e: unknown) => {
      this.destroying = undefined; // a failed teardown may be retried
      throw e;
    });
    return this.destroying;
  }
}

export interface CgroupOptions {
  /** Directory (levels split by '/') under each hierarchy's root; default 'glassbox'. */
  parent?: string;
  /** The host's layout when the caller has detected it already (the run header records it). */
  layout?: CgroupLayout;
  /** Make and write through this (the helper) instead of Node's own calls. */
  io?: CgroupIO;
}

/**
 * Make the container's cgroup in every hierarchy the host's layout needs and
 * write the limits. Nothing is joined yet. On any failure, the directories it
 * made are removed before the error is thrown.
 */
export async function createCgroup(name: string, limits: CgroupLimits, opts: CgroupOptions = {}): Promise<Cgroup> {
  checkName('name', name, false);
  const parentSegs = checkName('parent', opts.parent ?? DEFAULT_PARENT, true);
  checkLimits(limits);
  const layout = opts.layout ?? detectCgroups();
  const places = placesFor(layout, limits);
  const files = new Files(opts.io);
  const made: string[] = [];
  try {
    const dirs: Dir[] = [];
    for (const p of places) {
      let dir = p.root;
      for (const seg of parentSegs) {
        dir = join(dir, seg);
        // The parent is shared by every container; another one may be making it now.
        await files.mkdir(dir, false);
      }
      if (p.kind === 'v2') await enableV2(files, p.root, parentSegs, limits);
      const path = join(dir, name);
      await files.mkdir(path, true);
      made.push(path);
      dirs.push({ ...p, path });
    }
    const group = new Group(layout.mode, name, dirs, files);
    if (layout.mode === 'v2') await applyV2(files, dirs[0]!.path, limits);
    else await applyV1(files, (c) => dirs.find((d) => d.kind === 'v1' && d.controllers.includes(c))?.path, limits);
    // The same device list on cgroup2 as v1's devices.allow (on a hybrid host both apply).
    const io = opts.io;
    if (io?.deviceFilter) for (const d of dirs.filter((d) => d.kind === 'v2' || d.kind === 'unified')) await files.run(() => io.deviceFilter!(d.path, DEVICE_RULES));
    await files.flush();
    return group;
  } catch (e) {
    for (const path of made.reverse()) await rmdir(path).catch(() => undefined);
    throw e;
  }
}

/**
 * The cgroup of a container made earlier, perhaps by another glassbox process
 * (for stop, rm, inspect). Its `written` starts empty.
 */
export async function openCgroup(name: string, opts: CgroupOptions = {}): Promise<Cgroup | undefined> {
  checkName('name', name, false);
  const parentSegs = checkName('parent', opts.parent ?? DEFAULT_PARENT, true);
  const layout = opts.layout ?? detectCgroups();
  const dirs = placesFor(layout, {})
    .map((p) => ({ ...p, path: join(p.root, ...parentSegs, name) }))
    .filter((d) => existsSync(d.path));
  return dirs.length === 0 ? undefined : new Group(layout.mode, name, dirs, new Files());
}

/**
 * Garbage-collect: remove the cgroups under `parent` whose owner is gone,
 * killing any process still in them. `isAlive(name)` says whether a
 * container still owns its cgroup; without it a cgroup counts as alive while
 * it holds a process or is younger than a few seconds (it may be between
 * createCgroup and join in another glassbox). Returns the directories removed.
 */
export async function removeStale(parent: string = DEFAULT_PARENT, isAlive?: (name: string) => boolean): Promise<string[]> {
  const parentSegs = checkName('parent', parent, true);
  const layout = detectCgroups();
  // Every hierarchy, not only the ones glassbox uses today: a leftover from another version is still ours.
  const roots = [...new Set([...Object.values(layout.v1Roots), ...(layout.v2Root ? [layout.v2Root] : [])])];
  const byName = new Map<string, string[]>();
  // Read side by side; listed in the hierarchies' order.
  const listings = await Promise.all(
    roots.map(async (root) => {
      const base = join(root, ...parentSegs);
      try {
        return { base, entries: await readdir(base, { withFileTypes: true }) };
      } catch (e) {
        if (errnoOf(e) === 'ENOENT') return { base, entries: [] };
        throw fsError('readdir', base, e);
      }
    }),
  );
  for (const { base, entries } of listings) {
    for (const ent of entries) {
      if (!ent.isDirectory()) continue;
      const list = byName.get(ent.name) ?? [];
      list.push(join(base, ent.name));
      byName.set(ent.name, list);
    }
  }
  const removed: string[] = [];
  for (const [name, paths] of byName) {
    const alive = isAlive ? isAlive(name) : (await procsOf(paths)).length > 0 || (await youngest(paths)) > Date.now() - STALE_GRACE_MS;
    if (alive) continue;
    const unified = layout.v2Root ? paths.find((p) => p.startsWith(layout.v2Root! + '/')) : undefined;
    await teardown(name, paths, unified);
    removed.push(...paths);
  }
  return removed;
}

const STALE_GRACE_MS = 10_000;

async function youngest(paths: string[]): Promise<number> {
  let t = 0;
  for (const p of paths) {
    const s = await stat(p).catch(() => undefined);
    if (s) t = Math.max(t, s.mtimeMs, s.ctimeMs);
  }
  return t;
}

// ---------------------------------------------------------------- teardown

/** Every pid in these cgroups and their children; a directory already gone counts as empty. */
async function procsOf(dirs: string[]): Promise<number[]> {
  const pids = new Set<number>();
  const walk = async (dir: string): Promise<void> => {
    const text = await readCgroupFile(join(dir, 'cgroup.procs'));
    if (text === undefined) return;
    for (const l of text.split('\n')) if (l) pids.add(Number(l));
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    await Promise.all(entries.filter((e) => e.isDirectory()).map((e) => walk(join(dir, e.name))));
  };
  // The hierarchies side by side: each read is a trip to the thread pool.
  await Promise.all(dirs.map(walk));
  return [...pids].sort((a, b) => a - b);
}

const EMPTY_TIMEOUT_MS = 5_000;

async function teardown(name: string, dirs: string[], killDir: string | undefined): Promise<void> {
  // cgroup.kill (Linux 5.14) kills the whole subtree in the kernel, with no
  // race against fork. Without it, read the pids and kill them until none are
  // left: a process killed cannot fork again, so the loop ends; the small
  // risk of a pid reused between read and kill is the same runc takes
  // without a freezer.
  let kernelKill = false;
  if (killDir && existsSync(join(killDir, 'cgroup.kill'))) {
    await writeCgroupFile(join(killDir, 'cgroup.kill'), '1').then(
      () => (kernelKill = true),
      (e: GlassboxError) => {
        if (e.code !== 'ENOENT') throw e;
      },
    );
  }
  // Mostly the container has ended and its cgroups are empty: remove them at
  // once. Only if one is still busy, look for what is left in it, as below.
  const quick = await Promise.allSettled(dirs.map((d) => removeTree(d, false)));
  if (quick.every((r) => r.status === 'fulfilled')) return;
  const start = Date.now();
  for (;;) {
    const pids = (await procsOf(dirs)).filter((p) => p !== process.pid);
    if (pids.length === 0) break;
    // After cgroup.kill the processes are only dying; signal them ourselves
    // only if something (a process not in the cgroup2 tree) is left a while.
    if (!kernelKill || Date.now() - start > 500) {
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch (e) {
          if (errnoOf(e) !== 'ESRCH') throw new GlassboxError(errnoOf(e) ?? String(e), { op: 'kill', subject: `pid ${pid} in cgroup ${name}`, code: errnoOf(e), cause: e });
        }
      }
    }
    if (Date.now() - start > EMPTY_TIMEOUT_MS) {
      throw new GlassboxError(`processes ${pids.join(', ')} are still there ${EMPTY_TIMEOUT_MS / 1000} s after SIGKILL`, { op: 'destroy cgroup', subject: name, code: 'EBUSY' });
    }
    await sleep(10);
  }
  // Each hierarchy is a tree of its own: removed side by side.
  const results = await Promise.allSettled(dirs.map((d) => removeTree(d)));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/**
 * rmdir a cgroup and any child cgroups, deepest first. cgroupfs files go with
 * their directory. Without retry, a busy cgroup fails at once.
 */
async function removeTree(dir: string, retry = true): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return;
    throw fsError('readdir', dir, e);
  }
  await Promise.all(entries.filter((e) => e.isDirectory()).map((e) => removeTree(join(dir, e.name), retry)));
  // A process that was just killed may still be leaving the cgroup: EBUSY
  // for a moment. runc retries the same way (RemovePath).
  for (let delay = 10; ; delay *= 2) {
    try {
      await rmdir(dir);
      return;
    } catch (e) {
      const code = errnoOf(e);
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' || delay > 640 || !retry) throw fsError('rmdir', dir, e);
      await sleep(delay);
    }
  }
}

// ------------------------------------------------------------------- parsing

const UNITS: Record<string, number> = { k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50 };

/** Docker refuses less (daemon: "Minimum memory limit allowed is 6MB"): the runtime itself would not fit. */
export const MIN_MEMORY_BYTES = 6 * 2 ** 20;

/**
 * Docker's --memory: a number, optionally with a fraction, then b, k, m, g,
 * t or p, binary and case-insensitive, with an optional "b" or "ib" after the
 * unit (512m, 1g, 1.5GiB, 100000b, 64k). "0" is docker's "no limit" and is
 * returned as 0; anything else below 6m is refused, as docker refuses it.
 */
export function parseMemory(s: string): number {
  const bad = (why: string) => new GlassboxError(why, { op: 'invalid memory value', subject: JSON.stringify(s), code: 'EINVAL' });
  const m = /^(\d+(?:\.\d*)?|\.\d+) ?([a-z]*)$/i.exec(s);
  if (!m) throw bad('expected a number and a unit, as in 512m or 1g');
  const sfx = m[2]!.toLowerCase();
  let mul = 1;
  if (sfx !== '' && sfx !== 'b') {
    const unit = UNITS[sfx[0]!];
    if (unit === undefined || (sfx.length === 2 && sfx[1] !== 'b') || (sfx.length === 3 && sfx.slice(1) !== 'ib') || sfx.length > 3) {
      throw bad(`unknown unit "${m[2]}": use b, k, m, g, t or p`);
    }
    mul = unit;
  }
  const bytes = Math.trunc(Number(m[1]) * mul);
  if (!Number.isSafeInteger(bytes)) throw bad('too large');
  if (bytes !== 0 && bytes < MIN_MEMORY_BYTES) throw bad('the minimum is 6m');
  return bytes;
}

/**
 * Docker's --cpus: a decimal number of CPUs ("0.5", "2", "1.25"), at most
 * nine decimals (docker counts nano-CPUs), between 0.01 and the CPUs this
 * process may run on. "0" is docker's "no limit" and is returned as 0.
 */
export function parseCpus(s: string): number {
  const bad = (why: string) => new GlassboxError(why, { op: 'invalid cpus value', subject: JSON.stringify(s), code: 'EINVAL' });
  const m = /^(\d+)?(?:\.(\d*))?$/.exec(s);
  if (!m || s === '' || s === '.') throw bad('expected a number of CPUs, as in 0.5 or 2');
  if ((m[2] ?? '').length > 9) throw bad('too precise: at most 9 decimals');
  const cpus = Number(s);
  if (cpus === 0) return 0;
  const n = availableParallelism();
  // The kernel's smallest CFS quota is 1 ms per 100 ms period.
  if (cpus < 0.01 || cpus > n) throw bad(`the range is 0.01 to ${n}.00, as there ${n === 1 ? 'is only 1 CPU' : `are only ${n} CPUs`} available`);
  return cpus;
}
