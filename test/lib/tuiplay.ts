// The TUI on a real terminal, for test/tui.test.ts to drive in tmux and for
// bench/tui.ts to measure.
//
//   node tuiplay.js replay EVENTS.jsonl [--step] [--stats FILE]
//   node tuiplay.js live EVENTS.jsonl [--step | --break ID,ID]
//   node tuiplay.js lag [--rate N] [--seconds S] [--stats FILE]
//   GLASSBOX_TUI_STATS=FILE node --import tuiplay.js PROGRAM...
//
// replay feeds the file to replayTui as the trace reader would, streamed.
// live plays the file as an engine would: before each stage it asks the TUI
// for its breakpoints, and at a breakpoint it emits the pause and its
// snapshot and waits in onPause; s opens a stand-in shell (sh printing the
// container id). Both print EXIT=<code> once the TUI has let the terminal go.
// lag feeds a live TUI syscalls at a rate and measures how far its stream
// pane is behind (for bench/tui.ts); the --import form records when frames
// were drawn in any program that draws with the TUI (see the hooks below).
//
// demoRun() builds the stream the tests write: a `glassbox run --step` of the
// demo image shaped like a real recording (a real run's stage, host and
// snapshot events: pull progress, unpack stats, namespaces changing one per
// stage, the v1 cgroup files, the overlay line) with the syscalls the helper
// makes in each stage, strace-decoded, and as many more as asked for.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import blessed from 'blessed';
import type { GlassboxEvent, Snapshot, SyscallEvent } from '../../src/events/schema.js';
import { SCHEMA_VERSION } from '../../src/events/schema.js';
import { replayTui, startTui } from '../../src/tui/index.js';

export const STAGES = ['pull', 'create', 'spawn', 'cgroup', 'ns-mnt', 'ns-uts', 'ns-ipc', 'ns-net', 'ns-cgroup', 'ns-pid', 'rootfs', 'pivot_root', 'hostname', 'security', 'exec', 'running'];
export const ID = 'b2ed3630726194cc0f20fe6d6c6a0e80058f5097961b27b9713ee7fbdd4b6358';
export const ROOT = '/var/lib/glassbox';
export const DIFF = 'ef3d33b6914a35fe0ae85dde803336714e2b63aef6c7ceb2f763db5b88c6c6cf';
const BLOB = 'ad6fd0af53030cc811f671956766da20c56db4390bad42145f982c8509c48c36';
const MANIFEST = 'sha256:25605e2d117f035cd935da26bc1c75d2f2f132ea09f36bb27c3ad691407f5e03';
const CGROUP = `glassbox-bd34cf1a/${ID}`;
const MERGED = `${ROOT}/containers/${ID}/merged`;
const HELPER = 6932;
const INIT = 6933;

const ABOUT: Record<string, string> = {
  pull: 'look up glassbox/demo:latest in the store, and pull it from its registry if it is not there',
  create: 'make the container directory (upper, work, merged) and its OCI config.json',
  spawn: 'start glassbox-shim, the process that unshares, mounts, pivots and finally execs',
  cgroup: `create ${CGROUP.slice(0, 30)}… in every cgroup hierarchy, write memory 67108864 bytes, 0.5 CPUs, 50 processes, and move the helper in`,
  'ns-mnt': 'unshare(CLONE_NEWNS): mount table of its own, so its mounts never reach the host',
  'ns-uts': 'unshare(CLONE_NEWUTS): hostname and domain name of its own',
  'ns-ipc': 'unshare(CLONE_NEWIPC): System V IPC and POSIX message queues of its own',
  'ns-net': 'unshare(CLONE_NEWNET): network stack of its own, with only a loopback device',
  'ns-cgroup': 'unshare(CLONE_NEWCGROUP): view of the cgroup tree, rooted at the cgroup it is in',
  'ns-pid': 'unshare(CLONE_NEWPID), then fork: the child is PID 1 of the new namespace',
  rootfs: 'make mounts private, mount overlay (1 layers + upper) on merged/, then /proc, /sys, /sys/fs/cgroup, /dev, /dev/pts, /dev/shm, /dev/mqueue',
  pivot_root: `pivot_root to ${MERGED} and detach the host's root from the container`,
  hostname: 'sethostname("b2ed36307261") in the new UTS namespace',
  security: 'mask 12 paths, make 5 read-only, keep 14 capabilities, run as root',
  exec: 'execve(["/glassbox-demo"]): PID 1 becomes the program',
  running: 'wait for PID 1 (/glassbox-demo) to exit',
};

const NS: [string, number, number][] = [
  // type, host inode, the container's own
  ['cgroup', 4026531835, 4026532249],
  ['ipc', 4026531839, 4026532179],
  ['mnt', 4026531832, 4026532177],
  ['net', 4026531833, 4026532180],
  ['pid', 4026531836, 4026532250],
  ['pid_for_children', 4026531836, 4026532250],
  ['user', 4026531837, 4026531837],
  ['uts', 4026531838, 4026532178],
];
const NS_STAGE: Record<string, string> = { cgroup: 'ns-cgroup', ipc: 'ns-ipc', mnt: 'ns-mnt', net: 'ns-net', pid: 'ns-pid', pid_for_children: 'ns-pid', uts: 'ns-uts' };

/** What a snapshot at the pause before `stage` sees, `done` being the stages that ran. */
function snapshot(stage: string, done: Set<string>): Snapshot {
  const spawned = done.has('spawn');
  const pid = !spawned ? undefined : done.has('ns-pid') ? INIT : HELPER;
  const namespaces = NS.map(([type, host, own]) => {
    const mine = NS_STAGE[type] !== undefined && done.has(NS_STAGE[type]!);
    const container = !spawned ? '' : `${type === 'pid_for_children' ? 'pid' : type}:[${mine ? own : host}]`;
    return { type, host: `${type === 'pid_for_children' ? 'pid' : type}:[${host}]`, container, changed: container !== '' && mine };
  });
  const host = ['22 27 0:21 / /proc rw,relatime - proc proc rw', '27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard', '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755', '35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory'];
  const overlay = `66 42 0:40 / ${done.has('pivot_root') ? '/' : MERGED} rw,relatime - overlay overlay rw,lowerdir=${ROOT}/layers/sha256/${DIFF}/diff,upperdir=${ROOT}/containers/${ID}/upper,workdir=${ROOT}/containers/${ID}/work,uuid=on`;
  const mountinfo = !pid ? [] : done.has('rootfs') ? [overlay, '67 66 0:42 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw', '80 66 0:45 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755'] : host;
  const dir = (c: string) => `/sys/fs/cgroup/${c}/${CGROUP}`;
  const cgroup = !done.has('cgroup')
    ? []
    : [
        { path: `${dir('memory')}/memory.limit_in_bytes`, written: '67108864', now: '67108864', why: '--memory: above 67108864 bytes the kernel reclaims what it can, then OOM-kills a process of this cgroup' },
        { path: `${dir('memory')}/memory.memsw.limit_in_bytes`, written: '134217728', now: '134217728', why: "docker's default --memory-swap is 2 × --memory" },
        { path: `${dir('cpu')}/cpu.cfs_period_us`, written: '100000', now: '100000', why: '--cpus: runc and docker count the CPU quota per 100000 µs period' },
        { path: `${dir('cpu')}/cpu.cfs_quota_us`, written: '50000', now: '50000', why: '--cpus 0.5: the cgroup may run 50000 µs in every 100000 µs period' },
        { path: `${dir('pids')}/pids.max`, written: '50', now: '50', why: '--pids-limit: fork and clone fail with EAGAIN once the cgroup holds 50 tasks' },
        { path: `${dir('devices')}/devices.deny`, written: 'a', why: 'deny every device first: the container may open only those allowed below' },
      ];
  const processes = !pid ? [] : pid === INIT ? [{ pid: HELPER, comm: 'glassbox-shim' }, { pid: INIT, comm: done.has('exec') ? 'glassbox-demo' : 'glassbox-shim' }] : [{ pid: HELPER, comm: 'glassbox-shim' }];
  return { id: ID, stage, pid, namespaces, mountinfo, cgroup, interfaces: done.has('ns-net') ? ['lo'] : ['lo', 'eth0'], processes };
}

/** The helper's calls in each stage, as strace -f decodes them. */
function stageCalls(stage: string): [pid: number, name: string, args: string[], ret: number | null, err?: string][] {
  const H = HELPER;
  const I = INIT;
  switch (stage) {
    case 'spawn':
      return [
        [H, 'execve', ['"/usr/lib/glassbox/glassbox-shim"', '["glassbox-shim"]', '0x7ffd3a1c5e08 /* 14 vars */'], 0],
        [H, 'brk', ['NULL'], 0x55d4c4a3b000],
        [H, 'arch_prctl', ['ARCH_SET_FS', '0x55d4c4a3c380'], 0],
        [H, 'set_tid_address', ['0x55d4c4a3c650'], H],
        [H, 'openat', ['AT_FDCWD', '"/etc/ld.so.preload"', 'O_RDONLY|O_CLOEXEC'], -1, 'ENOENT'],
        [H, 'read', ['3', '"{\\"cmd\\":\\"hello\\",\\"version\\":1}\\n"', '65536'], 31],
        [H, 'write', ['3', '"{\\"ok\\":true,\\"pid\\":6932}\\n"', '25'], 25],
      ];
    case 'cgroup':
      return [[H, 'read', ['3', '"{\\"cmd\\":\\"wait\\"}\\n"', '65536'], 15]];
    case 'ns-mnt':
      return [[H, 'unshare', ['CLONE_NEWNS'], 0]];
    case 'ns-uts':
      return [[H, 'unshare', ['CLONE_NEWUTS'], 0]];
    case 'ns-ipc':
      return [[H, 'unshare', ['CLONE_NEWIPC'], 0]];
    case 'ns-net':
      return [
        [H, 'unshare', ['CLONE_NEWNET'], 0],
        [H, 'socket', ['AF_NETLINK', 'SOCK_RAW|SOCK_CLOEXEC', 'NETLINK_ROUTE'], 4],
        [H, 'sendto', ['4', '[{nlmsg_len=32, nlmsg_type=RTM_NEWLINK, nlmsg_flags=NLM_F_REQUEST|NLM_F_ACK}, {ifi_index=if_nametoindex("lo"), ifi_flags=IFF_UP}]', '32', '0', 'NULL', '0'], 32],
        [H, 'close', ['4'], 0],
      ];
    case 'ns-cgroup':
      return [[H, 'unshare', ['CLONE_NEWCGROUP'], 0]];
    case 'ns-pid':
      return [
        [H, 'unshare', ['CLONE_NEWPID'], 0],
        [H, 'clone', ['child_stack=NULL', 'flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD', 'child_tidptr=0x55d4c4a3c650'], I],
        [I, 'getpid', [], 1],
      ];
    case 'rootfs':
      return [
        [I, 'mount', ['NULL', '"/"', 'NULL', 'MS_REC|MS_PRIVATE', 'NULL'], 0],
        [I, 'mount', ['"overlay"', `"${MERGED}"`, '"overlay"', '0', `"lowerdir=${ROOT}/layers/sha256/${DIFF.slice(0, 12)}…"`], 0],
        [I, 'mount', ['"proc"', `"${MERGED}/proc"`, '"proc"', 'MS_NOSUID|MS_NODEV|MS_NOEXEC', 'NULL'], 0],
        [I, 'mount', ['"sysfs"', `"${MERGED}/sys"`, '"sysfs"', 'MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC', 'NULL'], 0],
        [I, 'mkdirat', ['AT_FDCWD', `"${MERGED}/dev"`, '0755'], -1, 'EEXIST'],
        [I, 'mount', ['"tmpfs"', `"${MERGED}/dev"`, '"tmpfs"', 'MS_NOSUID|MS_STRICTATIME', '"mode=755,size=65536k"'], 0],
        [I, 'mknodat', ['AT_FDCWD', `"${MERGED}/dev/null"`, 'S_IFCHR|0666', 'makedev(0x1, 0x3)'], 0],
        [I, 'mount', ['"devpts"', `"${MERGED}/dev/pts"`, '"devpts"', 'MS_NOSUID|MS_NOEXEC', '"newinstance,ptmxmode=0666,mode=0620,gid=5"'], 0],
      ];
    case 'pivot_root':
      return [
        [I, 'chdir', [`"${MERGED}"`], 0],
        [I, 'pivot_root', ['"."', '"."'], 0],
        [I, 'umount2', ['"."', 'MNT_DETACH'], 0],
        [I, 'chdir', ['"/"'], 0],
      ];
    case 'hostname':
      return [[I, 'sethostname', ['"b2ed36307261"', '12'], 0]];
    case 'security':
      return [
        [I, 'mount', ['"/dev/null"', '"/proc/kcore"', 'NULL', 'MS_BIND', 'NULL'], 0],
        [I, 'mount', ['NULL', '"/proc/sys"', 'NULL', 'MS_RDONLY|MS_REMOUNT|MS_BIND', 'NULL'], 0],
        [I, 'prctl', ['PR_SET_NO_NEW_PRIVS', '1', '0', '0', '0'], 0],
        [I, 'capset', ['{version=_LINUX_CAPABILITY_VERSION_3, pid=0}', '{effective=1<<CAP_CHOWN|1<<CAP_DAC_OVERRIDE|1<<CAP_KILL, permitted=..., inheritable=0}'], 0],
      ];
    case 'exec':
      return [[I, 'execve', ['"/glassbox-demo"', '["/glassbox-demo"]', '0x7ffe8e5b1f30 /* 3 vars */'], 0]];
    case 'running':
      return [
        [I, 'readlinkat', ['AT_FDCWD', '"/proc/self/ns/uts"', '"uts:[4026532178]"', '4096'], 16],
        [I, 'openat', ['AT_FDCWD', '"/etc/hostname"', 'O_RDONLY'], -1, 'ENOENT'],
        [I, 'uname', ['{sysname="Linux", nodename="b2ed36307261", ...}'], 0],
        [I, 'write', ['1', '"[hostname] b2ed36307261\\n"', '24'], 24],
        [I, 'exit_group', ['0'], null],
      ];
    default:
      return [];
  }
}

export interface DemoOptions {
  /** Pauses recorded before every stage, with their snapshots (a --step run). */
  step?: boolean;
  /** Extra calls in the running stage, the program's loop. */
  extra?: number;
  /**
   * What the extra calls are. echo (the default): read and write of "line N",
   * 4 µs apart. server: a small HTTP file server's loop as strace shows one,
   * with its timings, errors, a worker thread, its access log on stdout and a
   * snapshot a second (serverLoop below).
   */
  workload?: 'echo' | 'server';
  /** ms a person spent at each recorded pause. */
  pauseMs?: number;
}

/** The server workload's program, its listening socket made before the loop. */
const SERVER_START: [name: string, args: string[], ret: number][] = [
  ['socket', ['AF_INET', 'SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK', 'IPPROTO_IP'], 3],
  ['setsockopt', ['3', 'SOL_SOCKET', 'SO_REUSEADDR', '[1]', '4'], 0],
  ['bind', ['3', '{sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr("0.0.0.0")}', '16'], 0],
  ['listen', ['3', '4096'], 0],
  ['epoll_create1', ['EPOLL_CLOEXEC'], 4],
  ['epoll_ctl', ['4', 'EPOLL_CTL_ADD', '3', '{events=EPOLLIN, data={u32=3, u64=3}}'], 0],
];

/** x86_64's numbers, as the header's arch says. */
const NR: Record<string, number> = { read: 0, write: 1, close: 3, fstat: 5, brk: 12, writev: 20, futex: 202, clock_gettime: 228, epoll_wait: 232, accept4: 288, openat: 257, socket: 41, setsockopt: 54, bind: 49, listen: 50, epoll_create1: 291, epoll_ctl: 233 };

/** A small deterministic generator (mulberry32): the same trace every time. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** The request number a server-workload line names ("/items/123.json"), for a reader of the screen. */
export const REQUEST_MARK = /\/items\/(\d+)\.json/g;

/**
 * `n` calls of an HTTP file server (PID 1 of the container, a worker thread
 * beside it), from `startUs`: per request epoll_wait (where the wall time
 * goes), accept4, read of the request, openat of the file it names (1 in 12
 * is not there: ENOENT and a 404), fstat, read, close, writev of the reply,
 * close; a keep-alive read that finds nothing (EAGAIN) now and then; the
 * worker woken by futex every 8th request; the heap grown by brk; the access
 * log written to stdout 20 lines at a time (a write and the output it makes);
 * and, as glassbox run takes them, a snapshot with the cgroup's usage every
 * second of the recording. Returns the time after the last call, in µs.
 */
function* serverLoop(n: number, startUs: number, stage: string): Generator<GlassboxEvent, number> {
  const rnd = random(7);
  const I = INIT;
  const W = INIT + 1;
  let us = startUs;
  let made = 0;
  let req = 0;
  let log: string[] = [];
  let nextSnap = startUs + 1_000_000;
  let heap = 0x55d4c4c5d000;
  const final = snapshot('running', new Set(STAGES));
  const call = (tid: number, name: string, args: string[], ret: number | null, dur: number, err?: string): SyscallEvent => {
    const e: SyscallEvent = { kind: 'syscall', t: us / 1000, pid: I, tid, stage, nr: NR[name] ?? 0, name, args, ret, dur };
    if (err) e.err = err;
    us += dur + 1 + Math.floor(rnd() * 6);
    made++;
    return e;
  };
  while (made < n) {
    req++;
    const wait = Math.floor(20 + rnd() * rnd() * 2000);
    const port = 40000 + Math.floor(rnd() * 20000);
    const size = 400 + Math.floor(rnd() * 4000);
    const path = `/items/${req}.json`;
    const head = `HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: ${size}\\r\\n\\r\\n`;
    const batch: SyscallEvent[] = [
      call(I, 'epoll_wait', ['4', '[{events=EPOLLIN, data={u32=3, u64=3}}]', '1024', '-1'], 1, wait),
      call(I, 'accept4', ['3', `{sa_family=AF_INET, sin_port=htons(${port}), sin_addr=inet_addr("10.0.2.2")}`, '[16]', 'SOCK_CLOEXEC|SOCK_NONBLOCK'], 5, 6),
      call(I, 'read', ['5', `"GET ${path} HTTP/1.1\\r\\nHost: 10.0.2.15:8080\\r\\nUser-Agent: curl/8.5.0\\r\\nAccept: */*\\r\\n\\r\\n"`, '8192'], 90 + String(req).length, 4),
    ];
    let status = 200;
    if (req % 12 === 0) {
      status = 404;
      batch.push(call(I, 'openat', ['AT_FDCWD', `"/srv${path}"`, 'O_RDONLY|O_CLOEXEC'], -1, 9, 'ENOENT'));
      batch.push(call(I, 'write', ['5', '"HTTP/1.1 404 Not Found\\r\\nContent-Length: 0\\r\\n\\r\\n"', '45'], 45, 11));
    } else {
      batch.push(call(I, 'openat', ['AT_FDCWD', `"/srv${path}"`, 'O_RDONLY|O_CLOEXEC'], 6, 9));
      batch.push(call(I, 'fstat', ['6', `{st_mode=S_IFREG|0644, st_size=${size}, ...}`], 0, 3));
      batch.push(call(I, 'read', ['6', `"{\\"id\\":${req},\\"name\\":\\"item ${req}\\",\\"tags\\":[\\"blue\\",\\"small\\"],\\"price\\":"...`, String(size + 1)], size, 5));
      batch.push(call(I, 'close', ['6'], 0, 2));
      batch.push(call(I, 'writev', ['5', `[{iov_base="${head}", iov_len=${head.length - 8}}, {iov_base="{\\"id\\":${req},\\"name\\":"..., iov_len=${size}}]`, '2'], head.length - 8 + size, 14));
    }
    if (req % 37 === 0) batch.push(call(I, 'read', ['5', '0x7ffd5c3a9e40', '8192'], -1, 2, 'EAGAIN'));
    batch.push(call(I, 'close', ['5'], 0, 3));
    if (req % 8 === 0) {
      batch.push(call(I, 'futex', ['0x55d4c4a3d2a0', 'FUTEX_WAKE_PRIVATE', '1'], 1, 4));
      batch.push(call(W, 'futex', ['0x55d4c4a3d2a0', 'FUTEX_WAIT_PRIVATE', '0', 'NULL'], 0, 180));
      const now = us / 1e6;
      batch.push(call(W, 'clock_gettime', ['CLOCK_REALTIME', `{tv_sec=${Math.floor(now)}, tv_nsec=${Math.floor((now % 1) * 1e9)}}`], 0, 1));
    }
    if (req % 500 === 0) {
      heap += 0x21000;
      batch.push(call(I, 'brk', [`0x${heap.toString(16)}`], heap, 6));
    }
    log.push(`10.0.2.2 - - "GET ${path} HTTP/1.1" ${status} ${status === 200 ? size : 0}`);
    let out: GlassboxEvent | undefined;
    if (log.length === 20) {
      const text = log.join('\n') + '\n';
      // strace's form: quotes escaped, the buffer cut after 32 bytes.
      batch.push(call(I, 'write', ['1', `"${text.slice(0, 32).replace(/"/g, '\\"')}"...`, String(text.length)], text.length, 8));
      out = { kind: 'output', t: us / 1000, stream: 'stdout', data: text };
      log = [];
    }
    for (const e of batch.slice(0, Math.max(0, n - (made - batch.length)))) yield e;
    if (out && made <= n) yield out;
    if (us >= nextSnap) {
      const secs = (us - startUs) / 1e6;
      yield { kind: 'snapshot', t: us / 1000, snapshot: { ...final, processes: [{ pid: HELPER, comm: 'glassbox-shim' }, { pid: I, comm: 'itemd' }], usage: { memoryBytes: 9_400_000 + Math.floor(secs * 180_000), memoryLimit: 67108864, cpuUsageUsec: Math.floor(secs * 410_000), pids: 2, pidsMax: 50 } } };
      nextSnap += 1_000_000;
    }
  }
  return us;
}

/** The stream of a `glassbox run --step glassbox/demo` as the engine writes it. */
export function* demoRun(o: DemoOptions = {}): Generator<GlassboxEvent> {
  let now = 1795452188900;
  const tick = (ms: number) => (now += ms);
  yield { kind: 'header', schema: SCHEMA_VERSION, glassbox: '0.1.0', t: now, host: { kernel: '6.8.0-49-generic', arch: 'x64', cgroup: 'hybrid', hostname: 'lab' }, argv: ['run', '--tui', '--step', '--memory', '64m', '--cpus', '0.5', '--pids-limit', '50', 'glassbox/demo'], image: 'glassbox/demo:latest', trace: 'full', stages: STAGES };
  const done = new Set<string>();
  const server = o.workload === 'server' && (o.extra ?? 0) > 0;
  for (const stage of STAGES) {
    const id = done.has('create') ? ID : undefined;
    if (o.step) {
      yield { kind: 'stage', t: tick(1), stage, phase: 'paused', about: ABOUT[stage], id };
      if (id) yield { kind: 'snapshot', t: tick(1), snapshot: snapshot(stage, done) };
      yield { kind: 'stage', t: tick(o.pauseMs ?? 4000), stage, phase: 'resumed' };
    }
    yield { kind: 'stage', t: tick(0), stage, phase: 'begin', about: ABOUT[stage], id };
    if (stage === 'pull') {
      yield { kind: 'host', t: tick(2), detail: { what: 'resolve', input: 'glassbox/demo', reference: 'docker.io/glassbox/demo:latest', registry: 'docker.io', repository: 'glassbox/demo', tag: 'latest' } };
      yield { kind: 'host', t: tick(3), detail: { what: 'manifest', digest: MANIFEST, mediaType: 'application/vnd.oci.image.manifest.v1+json' } };
      for (const [bytes, state] of [[0, 'waiting'], [131072, 'downloading'], [262144, 'downloading'], [399388, 'verifying'], [399388, 'done']] as const) {
        yield { kind: 'host', t: tick(30), detail: { what: 'layer', digest: `sha256:${BLOB}`, diffId: `sha256:${DIFF}`, size: 399388, bytes, state } };
      }
      yield { kind: 'host', t: tick(1), detail: { what: 'unpack', diffId: `sha256:${DIFF}`, dir: `${ROOT}/layers/sha256/${DIFF}/diff`, stats: { files: 3, dirs: 5, symlinks: 0, hardlinks: 0, whiteouts: 0, opaques: 0, devices: 0, fifos: 0, xattrs: 0, bytes: 913027 }, samples: [] } };
      yield { kind: 'host', t: tick(1), detail: { what: 'image', name: 'docker.io/glassbox/demo:latest', digest: MANIFEST, layers: 1, size: 399388 } };
    }
    let us = now * 1000;
    const calls = server && stage === 'running' ? SERVER_START.map(([name, args, ret]) => [INIT, name, args, ret] as const) : stageCalls(stage);
    let nr = 0;
    for (const [pid, name, args, ret, err] of calls) {
      const e: SyscallEvent = { kind: 'syscall', t: us / 1000, pid, tid: pid, stage, nr: server ? (NR[name] ?? nr++) : nr++, name, args, ret, dur: 12 };
      if (err) e.err = err;
      us += 40;
      yield e;
    }
    if (stage === 'running' && server) {
      us = yield* serverLoop(o.extra!, us, stage);
      yield { kind: 'syscall', t: us / 1000, pid: INIT, tid: INIT, stage, nr: 231, name: 'exit_group', args: ['0'], ret: null, dur: 0 };
    } else if (stage === 'running') {
      for (let i = 0; i < (o.extra ?? 0); i++) {
        const read = i % 2 === 0;
        yield { kind: 'syscall', t: us / 1000, pid: INIT, tid: INIT, stage, nr: read ? 0 : 1, name: read ? 'read' : 'write', args: read ? ['0', `"line ${i}\\n"`, '4096'] : ['1', `"line ${i}\\n"`, String(6 + String(i).length)], ret: 6 + String(i).length, dur: 3 };
        us += 4;
      }
      yield { kind: 'output', t: us / 1000, stream: 'stdout', data: '[hostname] b2ed36307261\n[ns] uts -> uts:[4026532178]\n' };
    }
    now = Math.ceil(us / 1000);
    yield { kind: 'stage', t: tick(2), stage, phase: 'end' };
    done.add(stage);
  }
  for (const stage of ['cgroup', 'spawn', 'create']) yield { kind: 'stage', t: tick(2), stage, phase: 'undone' };
  yield { kind: 'exit', t: tick(1), status: 0, code: 0 };
}

export function writeJsonl(file: string, events: Iterable<GlassboxEvent>): void {
  const fd = fs.openSync(file, 'w');
  let buf: string[] = [];
  for (const e of events) {
    buf.push(JSON.stringify(e));
    if (buf.length >= 10_000) {
      fs.writeSync(fd, buf.join('\n') + '\n');
      buf = [];
    }
  }
  if (buf.length) fs.writeSync(fd, buf.join('\n') + '\n');
  fs.closeSync(fd);
}

async function* readJsonl(file: string): AsyncGenerator<GlassboxEvent> {
  for await (const line of createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity })) if (line) yield JSON.parse(line) as GlassboxEvent;
}

// ---- measurement hooks, for bench/tui.ts ------------------------------------
//
// What the bench wants to know is what reached the terminal, and when. Every
// frame goes through blessed's Screen.prototype.render, which draws into the
// screen's cell buffer and writes the difference to the terminal before it
// returns (a write to a TTY is synchronous in Node): so the hook wraps that
// one method and reads the frame from the cell buffer right after it. Nothing
// in src/ knows the hook is there.

interface DrawnBox {
  lpos?: { xi: number; xl: number; yi: number; yl: number };
  _label?: { getContent(): string };
}

interface DrawnScreen {
  destroyed?: boolean;
  lines: [unknown, string][][];
  children: DrawnBox[];
}

/** Call `fn` after every frame any blessed screen of this process draws, with the time it was written. */
export function onFrame(fn: (screen: DrawnScreen, at: number) => void): void {
  const proto = (blessed as unknown as { Screen: { prototype: { render(this: DrawnScreen): void } } }).Screen.prototype;
  const render = proto.render;
  proto.render = function (this: DrawnScreen) {
    render.call(this);
    if (!this.destroyed) fn(this, performance.now());
  };
}

/** The frame last drawn, as rows of text; only the rectangle of `box` if given. */
export function frameRows(screen: DrawnScreen, box?: DrawnBox): string[] {
  const p = box?.lpos;
  const rows = p ? screen.lines.slice(p.yi, p.yl) : screen.lines;
  return rows.map((cells) => (p ? cells.slice(p.xi, p.xl) : cells).map((c) => c[1]).join(''));
}

/** The frame last drawn on the screen that writes to `output`, as text (a test's look at a TUI with no terminal). */
export function drawnText(output: NodeJS.WritableStream): string | undefined {
  const screens = (blessed as unknown as { Screen: { instances: (DrawnScreen & { program: { output: unknown } })[] } }).Screen.instances;
  const screen = screens.find((s) => s.program.output === output);
  return screen && frameRows(screen).join('\n');
}

/** The syscall stream's pane, by its label. */
function streamPane(screen: DrawnScreen): DrawnBox | undefined {
  return screen.children.find((c) => /Syscalls/.test(c._label?.getContent() ?? ''));
}

/** Epoch ms, to the µs. */
const wall = (at = performance.now()) => performance.timeOrigin + at;

/**
 * Frame statistics written to `file` when the process exits: origin (the
 * process start, performance.timeOrigin), first (the first frame), marks
 * (for each name, the first frame whose text matched its regex), all epoch
 * ms; frames; maxRss (bytes, getrusage's peak).
 */
export function recordFrames(file: string, marks: Record<string, string>): void {
  const pending = new Map(Object.entries(marks).map(([k, v]) => [k, new RegExp(v)]));
  const seen: Record<string, number> = {};
  let first: number | undefined;
  let frames = 0;
  onFrame((screen, at) => {
    frames++;
    first ??= wall(at);
    if (!pending.size) return;
    const text = frameRows(screen).join('\n');
    for (const [name, re] of pending) {
      if (!re.test(text)) continue;
      seen[name] = wall(at);
      pending.delete(name);
    }
  });
  process.on('exit', () => {
    fs.writeFileSync(file, JSON.stringify({ origin: performance.timeOrigin, first, marks: seen, frames, maxRss: process.resourceUsage().maxRSS * 1024 }));
  });
}

// Loaded with `node --import tuiplay.js` in front of a program that draws with
// the TUI (glassbox replay), GLASSBOX_TUI_STATS=FILE and GLASSBOX_TUI_MARKS={"name": "regex"}.
if (process.env.GLASSBOX_TUI_STATS) recordFrames(process.env.GLASSBOX_TUI_STATS, JSON.parse(process.env.GLASSBOX_TUI_MARKS ?? '{}') as Record<string, string>);

async function replayMain(file: string, args: string[]): Promise<number> {
  const statsAt = args.indexOf('--stats');
  if (statsAt >= 0) recordFrames(args[statsAt + 1]!, { paused: 'PAUSED before' });
  return replayTui(readJsonl(file), { breakpoints: args.includes('--step') ? 'all' : undefined });
}

export interface LagStats {
  rate: number;
  seconds: number;
  /** Syscall events fed, and the ms it took from the first to the last. */
  fed: number;
  feedMs: number;
  frames: number;
  cols: number;
  rows: number;
  /** Per frame: ms the stream pane was behind just before it (now − when the newest request the last frame showed was due). */
  behind: number[];
  /** Per frame: ms the newest request it shows was due before the frame was written. */
  fresh: number[];
  /** Frames whose stream pane showed no request at all. */
  blind: number;
}

/**
 * lag: the live TUI fed `rate` syscall events a second for `seconds` (the
 * server workload, after the stages of a run with no pauses), and how far the
 * stream pane is behind them.
 *
 * Each event is stamped with the moment it is due, t0 + i/rate, and a 1 ms
 * timer feeds whatever is due: a tracer does not wait for the TUI, so events
 * due while the loop was busy drawing arrive late, and count as late. After
 * every frame the hook reads the stream pane's rows for the newest request
 * number shown (REQUEST_MARK) and takes when that request's first call
 * (epoll_wait) was due, so a lag is never understated by the calls of a
 * request. While events flow, the newest fed is due about now; so just
 * before a frame, the pane was behind by now − due(newest the previous frame
 * showed): that is `behind`, the top of the saw, sampled at every redraw.
 */
async function lagMain(args: string[]): Promise<number> {
  const opt = (name: string, dflt: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt);
  const rate = opt('--rate', 50_000);
  const seconds = opt('--seconds', 10);
  const statsAt = args.indexOf('--stats');
  const total = Math.round(rate * seconds);
  const behind: number[] = [];
  const fresh: number[] = [];
  let frames = 0;
  let blind = 0;
  const dueOf: number[] = [];
  let t0 = Infinity;
  let end = Infinity;
  let shownDue: number | undefined;
  onFrame((screen, at) => {
    if (at < t0 || at > end) return;
    frames++;
    let newest = 0;
    for (const row of frameRows(screen, streamPane(screen))) for (const m of row.matchAll(REQUEST_MARK)) newest = Math.max(newest, Number(m[1]));
    if (shownDue !== undefined) behind.push(at - shownDue);
    const due = dueOf[newest];
    if (due === undefined) {
      blind++;
      return;
    }
    shownDue = due;
    fresh.push(at - due);
  });
  const tui = startTui({ mode: 'live', stages: STAGES });
  const events = demoRun({ extra: total, workload: 'server' });
  // The stages up to the program's loop, at once, as a run with no pauses makes them.
  let next = events.next();
  while (!next.done && !(next.value.kind === 'syscall' && next.value.name === 'epoll_wait')) {
    (next.value as { t: number }).t = wall();
    tui.sink(next.value);
    next = events.next();
  }
  await new Promise((r) => setTimeout(r, 200));
  t0 = performance.now();
  let fed = 0;
  let req = 0;
  let last = t0;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - t0) * rate) / 1000));
      while (!next.done && fed < due) {
        const e = next.value;
        const at = t0 + (fed * 1000) / rate;
        if (e.kind === 'syscall') {
          if (e.name === 'epoll_wait') dueOf[++req] = at;
          fed++;
        }
        (e as { t: number }).t = wall(at);
        tui.sink(e);
        next = events.next();
      }
      last = performance.now();
      if (fed >= total || next.done) {
        clearInterval(timer);
        resolve();
      }
    }, 1);
  });
  end = performance.now();
  const stats: LagStats = { rate, seconds, fed, feedMs: last - t0, frames, cols: process.stdout.columns ?? 0, rows: process.stdout.rows ?? 0, behind, fresh, blind };
  if (statsAt >= 0) fs.writeFileSync(args[statsAt + 1]!, JSON.stringify(stats));
  tui.destroy();
  return 0;
}

/** An engine stand-in: the stages of the file, pausing where the TUI's breakpoints say. */
async function liveMain(file: string, args: string[]): Promise<number> {
  const events: GlassboxEvent[] = [];
  for await (const e of readJsonl(file)) events.push(e);
  const header = events.find((e) => e.kind === 'header');
  const tui = startTui({
    mode: 'live',
    stages: header?.kind === 'header' ? header.stages : STAGES,
    breakpoints: args.includes('--step') ? 'all' : args.includes('--break') ? new Set(args[args.indexOf('--break') + 1]!.split(',')) : undefined,
    shell: (id) =>
      new Promise<void>((resolve, reject) => {
        const sh = spawn('sh', ['-c', 'echo "SHELL IN $0"; read line; echo "shell got $line"', id], { stdio: 'inherit' });
        sh.on('error', reject);
        sh.on('exit', () => resolve());
      }),
  });
  let quit = false;
  void tui.quit.then(() => (quit = true));
  let code = 0;
  let skipping = false;
  for (const e of events) {
    if (quit) break;
    if (e.kind === 'stage' && e.phase === 'paused') {
      const bp = tui.breakpoints();
      skipping = !(bp === 'all' || bp?.has(e.stage));
      if (skipping) continue;
      tui.sink(e);
      continue;
    }
    if (skipping && e.kind === 'snapshot') continue;
    if (e.kind === 'stage' && e.phase === 'resumed') {
      if (!skipping) {
        const paused = [...events].reverse().find((p) => p.kind === 'stage' && p.phase === 'paused' && p.stage === e.stage);
        await tui.onPause(e.stage, paused?.kind === 'stage' ? (paused.about ?? '') : '', paused?.kind === 'stage' ? paused.id : undefined);
        if (quit) break;
        tui.sink(e);
      }
      skipping = false;
      continue;
    }
    if (e.kind === 'exit') code = e.code;
    tui.sink(e);
    // A live run's pace: calls come in bursts.
    if (e.kind !== 'syscall') await new Promise((r) => setTimeout(r, 5));
  }
  if (!quit) await tui.finished(code);
  tui.destroy();
  return code;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === fs.realpathSync(process.argv[1])) {
  const [mode, file, ...rest] = process.argv.slice(2);
  const run = mode === 'lag' ? lagMain(process.argv.slice(3)) : mode === 'live' ? liveMain(file!, rest) : replayMain(file!, rest);
  run.then(
    (code) => {
      process.stdout.write(`EXIT=${code}\n`);
      process.exit(code);
    },
    (e: unknown) => {
      process.stderr.write(`tuiplay: ${(e as Error).stack}\n`);
      process.stdout.write('EXIT=crash\n');
      process.exit(1);
    },
  );
}
