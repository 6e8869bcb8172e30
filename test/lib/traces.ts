// Event streams for the trace-file tests, built by hand: a header, the stages
// of a run, pull traffic, a snapshot, and the syscalls of a shell loop that
// forks cat, shaped like what strace -f prints for it (ASLR addresses,
// getrandom bytes, µs times, the dynamic loader's dance), from a seeded
// generator so every run of the tests sees the same stream.
import type { GlassboxEvent, HeaderEvent, StageEvent, SyscallEvent } from '../../src/events/schema.js';
import { SCHEMA_VERSION } from '../../src/events/schema.js';

export const STAGE_IDS = ['pull', 'create', 'spawn', 'cgroup', 'ns-mnt', 'ns-uts', 'ns-ipc', 'ns-net', 'ns-cgroup', 'ns-pid', 'rootfs', 'pivot', 'hostname', 'security', 'exec', 'running'];

/** mulberry32: small, seeded, good enough to look like ASLR. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function header(over: Partial<HeaderEvent> = {}): HeaderEvent {
  return {
    kind: 'header',
    schema: SCHEMA_VERSION,
    glassbox: '0.1.0',
    t: 1763916238000,
    host: { kernel: '6.8.0-49-generic', arch: 'x86_64', cgroup: 'hybrid', hostname: 'lab' },
    argv: ['run', '--step', 'busybox', 'sh', '-c', 'for i in $(seq 1000); do cat /etc/hostname; done'],
    image: 'busybox',
    trace: 'full',
    stages: STAGE_IDS,
    ...over,
  };
}

const hex = (n: number) => `0x${n.toString(16)}`;

interface Clock {
  /** µs since the epoch, an integer. */
  us: number;
}

/** A syscall at the clock's time; the clock moves past it and a gap. */
function call(r: () => number, c: Clock, pid: number, stage: string, nr: number, name: string, args: string[], ret: number | null, err?: string, dur?: number): SyscallEvent {
  const d = dur ?? Math.round(3 + r() * r() * 60);
  const e: SyscallEvent = { kind: 'syscall', t: c.us / 1000, pid, tid: pid, stage, nr, name, args, ret, dur: d };
  if (err) e.err = err;
  c.us += d + Math.round(15 + r() * r() * 120);
  return e;
}

/** The syscalls of one `cat /etc/hostname` forked by a shell: clone, the child's life, the shell's wait4. */
function* catOnce(r: () => number, c: Clock, shell: number, child: number, stage: string, hostname: string): Generator<SyscallEvent> {
  const page = () => Math.floor(r() * 0x7ffff) * 0x1000;
  const mmapBase = 0x7f0000000000 + page() * 0x100;
  const brk = 0x550000000000 + page() * 0x100;
  const stack = 0x7ffc00000000 + Math.floor(r() * 0x3ffffff) * 0x10;
  let top = mmapBase;
  const mmap = (len: number) => (top -= Math.ceil(len / 0x1000) * 0x1000);
  const S = (p: string) => JSON.stringify(p);
  yield call(r, c, shell, stage, 56, 'clone', ['child_stack=NULL', 'flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD', `child_tidptr=${hex(0x7f1234567a10)}`], child, undefined, 90 + Math.round(r() * 80));
  const waitStart = c.us;
  const p = child;
  yield call(r, c, p, stage, 59, 'execve', [S('/bin/cat'), '["cat", "/etc/hostname"]', `${hex(stack + 0x1e8)} /* 4 vars */`], 0, undefined, 200 + Math.round(r() * 100));
  yield call(r, c, p, stage, 12, 'brk', ['NULL'], brk);
  yield call(r, c, p, stage, 158, 'arch_prctl', ['0x3001 /* ARCH_??? */', hex(stack + 0x40)], -1, 'EINVAL');
  yield call(r, c, p, stage, 9, 'mmap', ['NULL', '8192', 'PROT_READ|PROT_WRITE', 'MAP_PRIVATE|MAP_ANONYMOUS', '-1', '0'], mmap(8192));
  yield call(r, c, p, stage, 21, 'access', [S('/etc/ld.so.preload'), 'R_OK'], -1, 'ENOENT');
  yield call(r, c, p, stage, 257, 'openat', ['AT_FDCWD', S('/etc/ld.so.cache'), 'O_RDONLY|O_CLOEXEC'], 3);
  yield call(r, c, p, stage, 262, 'newfstatat', ['3', '""', '{st_mode=S_IFREG|0644, st_size=10387, ...}', 'AT_EMPTY_PATH'], 0);
  const cache = mmap(10387);
  yield call(r, c, p, stage, 9, 'mmap', ['NULL', '10387', 'PROT_READ', 'MAP_PRIVATE', '3', '0'], cache);
  yield call(r, c, p, stage, 3, 'close', ['3'], 0);
  yield call(r, c, p, stage, 257, 'openat', ['AT_FDCWD', S('/lib/x86_64-linux-gnu/libc.so.6'), 'O_RDONLY|O_CLOEXEC'], 3);
  yield call(r, c, p, stage, 0, 'read', ['3', '"\\177ELF\\2\\1\\1\\3\\0\\0\\0\\0\\0\\0\\0\\0\\3\\0>\\0\\1\\0\\0\\0\\20t\\2\\0\\0\\0\\0\\0"...', '832'], 832);
  yield call(r, c, p, stage, 17, 'pread64', ['3', '"\\6\\0\\0\\0\\4\\0\\0\\0@\\0\\0\\0\\0\\0\\0\\0@\\0\\0\\0\\0\\0\\0\\0@\\0\\0\\0\\0\\0\\0\\0"...', '784', '64'], 784);
  yield call(r, c, p, stage, 262, 'newfstatat', ['3', '""', '{st_mode=S_IFREG|0755, st_size=1926232, ...}', 'AT_EMPTY_PATH'], 0);
  const libc = mmap(1974096);
  yield call(r, c, p, stage, 9, 'mmap', ['NULL', '1974096', 'PROT_READ', 'MAP_PRIVATE|MAP_DENYWRITE', '3', '0'], libc);
  for (const [off, len, prot, fl, fo] of [
    [0x26000, 1400832, 'PROT_READ|PROT_EXEC', 'MAP_PRIVATE|MAP_FIXED|MAP_DENYWRITE', '3'],
    [0x17c000, 339968, 'PROT_READ', 'MAP_PRIVATE|MAP_FIXED|MAP_DENYWRITE', '3'],
    [0x1cf000, 24576, 'PROT_READ|PROT_WRITE', 'MAP_PRIVATE|MAP_FIXED|MAP_DENYWRITE', '3'],
    [0x1d5000, 53072, 'PROT_READ|PROT_WRITE', 'MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS', '-1'],
  ] as const) {
    yield call(r, c, p, stage, 9, 'mmap', [hex(libc + off), String(len), prot, fl, fo, fo === '-1' ? '0' : hex(off)], libc + off);
  }
  yield call(r, c, p, stage, 3, 'close', ['3'], 0);
  const tls = mmap(12288);
  yield call(r, c, p, stage, 9, 'mmap', ['NULL', '12288', 'PROT_READ|PROT_WRITE', 'MAP_PRIVATE|MAP_ANONYMOUS', '-1', '0'], tls);
  yield call(r, c, p, stage, 158, 'arch_prctl', ['ARCH_SET_FS', hex(tls + 0x740)], 0);
  yield call(r, c, p, stage, 218, 'set_tid_address', [hex(tls + 0xa10)], p);
  yield call(r, c, p, stage, 273, 'set_robust_list', [hex(tls + 0xa20), '24'], 0);
  yield call(r, c, p, stage, 334, 'rseq', [hex(tls + 0x1060), '0x20', '0', '0x53053053'], 0);
  yield call(r, c, p, stage, 10, 'mprotect', [hex(libc + 0x1cf000), '16384', 'PROT_READ'], 0);
  yield call(r, c, p, stage, 10, 'mprotect', [hex(brk - 0x5000000), '4096', 'PROT_READ'], 0);
  yield call(r, c, p, stage, 302, 'prlimit64', ['0', 'RLIMIT_STACK', 'NULL', '{rlim_cur=8192*1024, rlim_max=RLIM64_INFINITY}'], 0);
  yield call(r, c, p, stage, 11, 'munmap', [hex(cache), '10387'], 0);
  const rand = Array.from({ length: 8 }, () => `\\x${Math.floor(r() * 256).toString(16).padStart(2, '0')}`).join('');
  yield call(r, c, p, stage, 318, 'getrandom', [`"${rand}"`, '8', 'GRND_NONBLOCK'], 8);
  yield call(r, c, p, stage, 12, 'brk', ['NULL'], brk);
  yield call(r, c, p, stage, 12, 'brk', [hex(brk + 0x21000)], brk + 0x21000);
  yield call(r, c, p, stage, 257, 'openat', ['AT_FDCWD', S('/usr/lib/locale/locale-archive'), 'O_RDONLY|O_CLOEXEC'], -1, 'ENOENT');
  yield call(r, c, p, stage, 262, 'newfstatat', ['1', '""', '{st_mode=S_IFIFO|0600, st_size=0, ...}', 'AT_EMPTY_PATH'], 0);
  yield call(r, c, p, stage, 257, 'openat', ['AT_FDCWD', S('/etc/hostname'), 'O_RDONLY'], 3);
  yield call(r, c, p, stage, 262, 'newfstatat', ['3', '""', `{st_mode=S_IFREG|0644, st_size=${hostname.length}, ...}`, 'AT_EMPTY_PATH'], 0);
  yield call(r, c, p, stage, 221, 'fadvise64', ['3', '0', '0', 'POSIX_FADV_SEQUENTIAL'], 0);
  const buf = mmap(139264);
  yield call(r, c, p, stage, 9, 'mmap', ['NULL', '139264', 'PROT_READ|PROT_WRITE', 'MAP_PRIVATE|MAP_ANONYMOUS', '-1', '0'], buf);
  const data = JSON.stringify(hostname);
  yield call(r, c, p, stage, 0, 'read', ['3', data, '131072'], hostname.length);
  yield call(r, c, p, stage, 1, 'write', ['1', data, String(hostname.length)], hostname.length);
  yield call(r, c, p, stage, 0, 'read', ['3', '""', '131072'], 0);
  yield call(r, c, p, stage, 11, 'munmap', [hex(buf), '139264'], 0);
  yield call(r, c, p, stage, 3, 'close', ['3'], 0);
  yield call(r, c, p, stage, 3, 'close', ['1'], 0);
  yield call(r, c, p, stage, 3, 'close', ['2'], 0);
  yield call(r, c, p, stage, 231, 'exit_group', ['0'], null);
  // The shell's wait4 entered long before: it is recorded at its exit, after the child's calls.
  yield { kind: 'syscall', t: waitStart / 1000, pid: shell, tid: shell, stage, nr: 61, name: 'wait4', args: ['-1', '[{WIFEXITED(s) && WEXITSTATUS(s) == 0}]', '0', 'NULL'], ret: child, dur: c.us - waitStart };
  c.us += Math.round(10 + r() * 30);
  yield call(r, c, shell, stage, 15, 'rt_sigreturn', ['{mask=[]}'], 0);
}

export interface CatLoopOptions {
  iterations: number;
  seed?: number;
  /** µs since the epoch of the first call. */
  startUs?: number;
  shell?: number;
  stage?: string;
}

/** The syscalls of `sh -c 'for i in ...; do cat /etc/hostname; done'`, as the tracer would record them. */
export function* catLoop(o: CatLoopOptions): Generator<SyscallEvent> {
  const r = rng(o.seed ?? 1);
  const c: Clock = { us: o.startUs ?? (header().t + 900) * 1000 + 123 };
  const shell = o.shell ?? 48211;
  let child = shell + 3;
  for (let i = 0; i < o.iterations; i++) {
    yield* catOnce(r, c, shell, child, o.stage ?? 'running', 'glassbox-7f3a\n');
    child += 1 + Math.floor(r() * r() * 4);
  }
}

/**
 * A whole run: header, each stage begun and ended (pauses where asked), a
 * pull, a snapshot, the cat loop in 'running', its output and its exit.
 */
export function runStream(o: { iterations?: number; pauses?: string[]; exitCode?: number; failAt?: string } = {}): GlassboxEvent[] {
  const h = header();
  const out: GlassboxEvent[] = [h];
  let t = h.t + 5;
  const stage = (s: string, phase: StageEvent['phase'], extra: Partial<StageEvent> = {}): StageEvent => ({ kind: 'stage', t, stage: s, phase, ...extra });
  for (const s of h.stages) {
    const about = `what ${s} does`;
    const id = s === 'pull' ? undefined : '4f1c2d3e5a6b7c8d9e0f1a2b3c4d5e6f4f1c2d3e5a6b7c8d9e0f1a2b3c4d5e6f';
    if (o.pauses?.includes(s)) {
      out.push(stage(s, 'paused', { about, ...(id ? { id } : {}) }));
      if (id) {
        out.push({
          kind: 'snapshot',
          t,
          snapshot: {
            id,
            stage: s,
            pid: 48211,
            namespaces: [{ type: 'uts', host: 'uts:[4026531838]', container: 'uts:[4026532301]', changed: true }],
            mountinfo: ['22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw'],
            cgroup: [
              { path: '/sys/fs/cgroup/memory/glassbox/x/memory.limit_in_bytes', written: '67108864', now: '67108864', why: '--memory' },
              { path: '/sys/fs/cgroup/pids/glassbox/x/pids.max', written: 'max', why: 'no --pids-limit' },
              { path: '/sys/fs/cgroup/pids/glassbox/x/pids.current', written: '', now: '3', why: 'processes now' },
            ],
            interfaces: ['lo'],
            processes: [{ pid: 48211, comm: 'glassbox-shim' }],
          },
        });
      }
      t += 700;
      out.push(stage(s, 'resumed'));
    }
    out.push(stage(s, 'begin', { about, ...(id ? { id } : {}) }));
    if (s === 'pull') {
      out.push({ kind: 'host', t: t + 1, detail: { what: 'resolve', input: 'busybox', reference: 'docker.io/library/busybox:latest', registry: 'registry-1.docker.io', repository: 'library/busybox', tag: 'latest' } });
      out.push({ kind: 'host', t: t + 2, detail: { what: 'image', name: 'docker.io/library/busybox:latest', digest: 'sha256:' + 'ab'.repeat(32), layers: 1, size: 2167176 } });
    }
    if (s === o.failAt) {
      t += 3;
      out.push(stage(s, 'failed', { error: `${s}: mount proc to /proc: Operation not permitted` }));
      return out;
    }
    if (s === 'running') {
      const first = out.length;
      for (const e of catLoop({ iterations: o.iterations ?? 3, startUs: (t + 1) * 1000 + 250 })) {
        out.push(e);
        if (e.name === 'write') out.push({ kind: 'output', t: e.t + 0.05, stream: 'stdout', data: 'glassbox-7f3a\n' });
      }
      t = Math.ceil(Math.max(t, ...out.slice(first).map((e) => e.t))) + 2;
      out.push({ kind: 'exit', t, status: o.exitCode ?? 0, code: o.exitCode ?? 0 });
    }
    t += 3;
    out.push(stage(s, 'end'));
    t += 1;
  }
  return out;
}
