// The native tracer on the real kernel: a traced run of busybox has each
// stage's own syscalls, lesson mode stops only on the lesson's set, and for
// the same program the tracer records what strace -f records.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import type { GlassboxEvent, SyscallEvent } from '../src/events/schema.js';
import { loadImages } from '../src/image/interchange.js';
import { Store } from '../src/image/store.js';
import { addon } from '../src/native/addon.js';
import { traceHooks } from '../src/trace/live.js';
import { readTrace } from '../src/trace/read.js';
import { LESSON_SYSCALLS } from '../src/trace/syscalls/index.js';
import { fixtureImages, repoRoot } from './lib/fixtures.js';
import { containerCgroups, shimPids } from './lib/leftovers.js';
import { reachableByNobody } from './lib/nobody.js';

let root: string;
let shimsBefore = new Set<number>();
const bin = () => path.join(repoRoot(), 'dist/src/cli/bin.js');

t.before(async () => {
  shimsBefore = new Set(shimPids());
  const fx = await fixtureImages();
  root = fs.mkdtempSync('/tmp/glassbox-tracer-');
  const store = await Store.open(root);
  await loadImages(store, fx.layout('busybox'), { name: 'busybox' });
});
t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));

async function events(file: string): Promise<GlassboxEvent[]> {
  const out: GlassboxEvent[] = [];
  for await (const e of readTrace(file)) out.push(e);
  return out;
}

function record(mode: 'full' | 'lesson', file: string, args: string[]) {
  return spawnSync(process.execPath, [bin(), '--root', root, 'run', '-q', '--rm', '--trace', mode, '--record', file, ...args], { encoding: 'utf8', timeout: 60_000 });
}

const calls = (evs: GlassboxEvent[]) => evs.filter((e): e is SyscallEvent => e.kind === 'syscall');

for (const mode of ['full', 'lesson'] as const) {
  t.test(`a ${mode} trace of a run has each stage's own syscalls`, async (t) => {
    const file = path.join(root, `run-${mode}.jsonl.gz`);
    const r = record(mode, file, ['-m', '64m', '--pids-limit', '50', 'busybox', 'sh', '-c', 'echo hi; cat /proc/self/cgroup > /dev/null']);
    t.equal(r.status, 0, r.stderr);
    t.equal(r.stdout, 'hi\n', 'the program writes to glassbox stdout as before');
    const evs = await events(file);
    const sys = calls(evs);
    const at = (stage: string) => sys.filter((s) => s.stage === stage);
    const line = (s: SyscallEvent) => `${s.name}(${s.args.join(', ')}) = ${s.ret}`;
    t.ok(at('ns-uts').some((s) => s.name === 'unshare' && s.args[0] === 'CLONE_NEWUTS' && s.ret === 0), 'unshare(CLONE_NEWUTS) in ns-uts');
    t.ok(at('ns-mnt').some((s) => s.name === 'unshare' && s.args[0] === 'CLONE_NEWNS'), 'unshare(CLONE_NEWNS) in ns-mnt');
    t.ok(at('ns-pid').some((s) => s.name === 'unshare' && s.args[0] === 'CLONE_NEWPID'), 'unshare(CLONE_NEWPID) in ns-pid');
    t.ok(at('ns-pid').some((s) => /^(clone|clone3|fork)$/.test(s.name) && (s.ret ?? 0) > 0), 'the fork that makes PID 1 in ns-pid');
    t.ok(at('rootfs').some((s) => s.name === 'mount' && s.args.includes('"overlay"') && s.ret === 0), at('rootfs').map(line).join('\n'));
    t.ok(at('pivot_root').some((s) => s.name === 'pivot_root' && s.ret === 0), 'pivot_root in its stage');
    t.ok(at('hostname').some((s) => s.name === 'sethostname'), 'sethostname in hostname');
    const limit = at('cgroup').find((s) => s.name === 'write' && /memory\.(limit_in_bytes|max)$/.test(s.fd ?? ''));
    t.ok(limit, at('cgroup').map(line).join('\n'));
    t.match(limit?.args[1], /"67108864"/, 'the bytes written are the limit');
    const exec = at('exec').find((s) => s.name === 'execve' && s.ret === 0);
    t.ok(exec, 'execve of the program in exec');
    t.match(exec?.args[1], /\["sh", "-c", "echo hi; cat/);
    t.ok(sys.some((s) => s.stage === 'running' || s.stage === 'exec' ? s.name === 'exit_group' : false), 'the program ends with exit_group');
    t.ok(
      evs.some((e) => e.kind === 'output' && e.data === 'hi\n'),
      'the output is in the stream',
    );
    const exit = evs.find((e) => e.kind === 'exit');
    t.same(exit && exit.kind === 'exit' ? exit.code : undefined, 0, 'the exit event ends the stream');
    if (mode === 'lesson') {
      const others = [...new Set(sys.map((s) => s.name))].filter((n) => !LESSON_SYSCALLS.includes(n));
      t.same(others, [], 'lesson mode records only the lesson set');
    } else {
      t.ok(sys.some((s) => s.name === 'read'), 'full mode has every syscall, read too');
      // The file behind a descriptor: for the lesson's calls (the write above) and reads, not for every call that takes one.
      t.ok(at('running').some((s) => s.name === 'read' && /^\/proc\/\d+\/cgroup$/.test(s.fd ?? '')), at('running').map((s) => `${line(s)} ${s.fd ?? ''}`).join('\n'));
      t.same(sys.filter((s) => (s.name === 'close' || s.name === 'fstat' || s.name === 'dup2') && s.fd !== undefined).map(line), [], 'none for close, fstat, dup2');
    }
    t.same(shimPids().filter((p) => !shimsBefore.has(p)), [], 'no helper or traced process left');
    t.same(containerCgroups(), [], 'no container cgroup left');
  });
}

// ---- the same program under glassbox's tracer and under strace -f ----

/**
 * Calls whose return value is an address or a process id, which differ
 * between two runs. rt_sigreturn is left out altogether: where a signal
 * handler returns depends on when SIGCHLD came, the program's timing, not
 * the tracer's.
 */
const VARIES = new Set(['mmap', 'munmap', 'brk', 'mremap', 'clone', 'clone3', 'fork', 'vfork', 'wait4', 'waitid', 'getpid', 'getppid', 'gettid', 'set_tid_address', 'arch_prctl']);

function norm(name: string, ret: string): string {
  if (!VARIES.has(name) || ret === '?') return `${name}=${ret}`;
  const n = Number(ret);
  return `${name}=${Number.isNaN(n) ? ret : n < 0 ? ret : '+'}`;
}

/** What glassbox's tracer records for a program run directly (no container), per process in order of appearance. */
function traceDirect(argv: string[]): Promise<string[][]> {
  return new Promise((resolve, reject) => {
    const byTid = new Map<number, string[]>();
    const hooks = traceHooks('full', ['direct'], 'direct', (e) => {
      if (e.kind !== 'syscall') return;
      const list = byTid.get(e.tid) ?? [];
      if (e.name !== 'rt_sigreturn') list.push(norm(e.name, e.ret === null ? '?' : String(e.err ? -1 : e.ret)));
      byTid.set(e.tid, list);
    });
    const devnull = fs.openSync('/dev/null', 'r+');
    try {
      new (addon().HelperProcess)(
        { file: argv[0]!, argv, env: ['PATH=/bin:/usr/bin'], fds: [devnull, devnull, devnull], trace: 1, capture: hooks.capture, lesson: [], control: false },
        (kind, a, b) => {
          if (kind === 'syscalls') hooks.onBatch(a as Float64Array, b as Buffer);
          if (kind === 'done') resolve([...byTid.values()]);
        },
      );
    } catch (e) {
      reject(e);
    } finally {
      fs.closeSync(devnull);
    }
  });
}

/** strace -ff: one file per thread, so no call is split into unfinished and resumed. */
function straceDirect(argv: string[], dir: string): string[][] {
  const prefix = path.join(dir, '..', 'st');
  const r = spawnSync('strace', ['-ff', '-qq', '-o', prefix, ...argv], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: '/bin:/usr/bin' } });
  if (r.status !== 0 && r.status !== 1) throw new Error(`strace: ${r.stderr}`);
  const files = fs.readdirSync(path.dirname(prefix)).filter((f) => f.startsWith('st.'));
  return files.map((f) => {
    const out: string[] = [];
    for (const l of fs.readFileSync(path.join(path.dirname(prefix), f), 'utf8').split('\n')) {
      // "name(args) = ret ..." ; signals (---) and exits (+++) are not calls
      const m = /^([a-z_0-9]+)\(.*\)\s+=\s+(\?|-?\d+|0x[0-9a-f]+)/.exec(l);
      if (m && m[1] !== 'rt_sigreturn') out.push(norm(m[1]!, m[2]!.startsWith('0x') ? String(Number(m[2])) : m[2]!));
    }
    return out;
  });
}

/**
 * A call a signal interrupted and the kernel restarted (clone = ? ERESTARTNOINTR
 * when SIGCHLD comes in the middle of a fork, then the same call again) is the
 * program's timing, like rt_sigreturn: the interrupted half is left out, on
 * both sides. Only "? then the same call" counts: exit_group = ? stays.
 */
function withoutRestarts(calls: string[]): string[] {
  return calls.filter((c, i) => !(c.endsWith('=?') && calls[i + 1]?.startsWith(c.slice(0, -1))));
}

const sorted = (x: string[][]) => x.map((s) => withoutRestarts(s).join(' ')).sort();

const PROGRAMS: [string, string][] = [
  ['a shell pipeline', 'echo one two three | /bin/busybox tr a-z A-Z | /bin/busybox wc -c > out'],
  ['a file copy', '/bin/busybox cp /bin/busybox copy && /bin/busybox cmp /bin/busybox copy'],
  ['a fork and wait', '/bin/busybox sleep 0 & wait $!; echo $? > status'],
];

for (const [what, script] of PROGRAMS) {
  t.test(`for ${what}, the tracer records the syscalls and return values strace -f records`, async (t) => {
    const dir = fs.mkdtempSync(path.join(root, 'cmp-'));
    const ours = path.join(dir, 'run1');
    const theirs = path.join(dir, 'run2');
    fs.mkdirSync(ours);
    fs.mkdirSync(theirs);
    // The same program, from the same working directory (this process's), in directories of the same length, with the same environment.
    const argv = ['/bin/busybox', 'sh', '-c', `cd "${'$'}1" || exit 1; ${script}`, 'sh'];
    const mine = await traceDirect([...argv, ours]);
    const strace = straceDirect([...argv, theirs], theirs);
    t.same(sorted(mine), sorted(strace), 'per process: the same calls, in the same order, with the same results');
  });
}

// ---- record, replay, export: the same run seen again ----

t.test('a recorded run replays to the same plain output and exit code, without root', async (t) => {
  const file = path.join(root, 'replay.jsonl.gz');
  const live = spawnSync(process.execPath, [bin(), '--root', root, 'run', '--rm', '--record', file, 'busybox', 'sh', '-c', 'echo out; echo err >&2; exit 3'], {
    encoding: 'utf8',
    timeout: 60_000,
    // The same plain environment for both (tap's own forces colour).
    env: { PATH: process.env.PATH, NO_COLOR: '1', HOME: '/tmp' },
  });
  t.equal(live.status, 3, live.stderr);
  t.match(live.stderr, /✓ pivot_root/);
  fs.chmodSync(root, 0o755);
  fs.chmodSync(file, 0o644);
  reachableByNobody(t, repoRoot());
  reachableByNobody(t, root);
  // tap's process hooks put themselves into every child's NODE_OPTIONS; they would write to root's .tap/.
  const replay = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'sh', '-c', 'unset NODE_OPTIONS; exec "$0" "$@"', process.execPath, bin(), 'replay', file], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { PATH: process.env.PATH, NO_COLOR: '1', HOME: '/tmp' },
  });
  t.equal(replay.status, 3, replay.stderr);
  t.equal(replay.stdout, live.stdout, 'the same program output');
  t.equal(replay.stderr, live.stderr, 'the same stage lines, in the same order as the output');
  const stats = spawnSync(process.execPath, [bin(), 'trace', 'stats', file], { encoding: 'utf8' });
  t.equal(stats.status, 0, stats.stderr);
  t.match(stats.stdout, /rootfs/);
  t.match(stats.stdout, /mount/);
});

t.test('the Perfetto export of a real run is valid Trace Event JSON', async (t) => {
  const file = path.join(root, 'perfetto.jsonl');
  const r = record('full', file, ['busybox', 'true']);
  t.equal(r.status, 0, r.stderr);
  const out = spawnSync(process.execPath, [bin(), 'trace', 'export', '--format', 'perfetto', file], { encoding: 'utf8', maxBuffer: 256 << 20 });
  t.equal(out.status, 0, out.stderr);
  const doc = JSON.parse(out.stdout) as { traceEvents: { ph: string; ts?: number; dur?: number; pid: number; tid: number; name: string; args?: Record<string, unknown> }[] };
  t.ok(Array.isArray(doc.traceEvents) && doc.traceEvents.length > 100);
  const bad = doc.traceEvents.filter(
    (e) =>
      typeof e.ph !== 'string' ||
      !Number.isInteger(e.pid) ||
      (!Number.isInteger(e.tid) && !(e.ph === 'M' && e.name === 'process_name')) ||
      (e.ph !== 'M' && typeof e.ts !== 'number') ||
      (e.ph === 'X' && !(typeof e.dur === 'number' && e.dur >= 0)),
  );
  t.same(bad.slice(0, 3), [], 'every event has ph, an integer pid (and tid, but for process names), a numeric ts, and X slices a duration >= 0');
  const slices = doc.traceEvents.filter((e) => e.ph === 'X');
  const names = new Set(slices.map((e) => e.name));
  for (const n of ['rootfs', 'pivot_root', 'execve', 'mount', 'unshare']) t.ok(names.has(n), `a slice named ${n}`);
  t.ok(doc.traceEvents.some((e) => e.ph === 'M' && e.name === 'thread_name'), 'threads are named');
});
