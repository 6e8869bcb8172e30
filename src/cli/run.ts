// glassbox run: the stages of a container, one line each on stderr, the
// program's own output on stdout, and its exit code as glassbox's.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import tty from 'node:tty';
import { addon } from '../native/addon.js';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { parseCpus, parseMemory } from '../runtime/cgroup/index.js';
import { runContainer } from '../runtime/engine.js';
import { takeEarlyCgroupWarm } from './early.js';
import { gc } from '../runtime/gc.js';
import type { RunContext } from '../runtime/context.js';
import { takeSnapshot } from '../runtime/snapshot.js';
import type { EventSink } from '../events/schema.js';
import type { Stage } from '../runtime/stage.js';
import { stageIds } from '../runtime/stages/index.js';
import { refuseHostNetwork, usernsFromFlags } from '../runtime/userns.js';
import { GlassboxError } from '../util/errors.js';
import { interruptible, openStore } from './images.js';
import { oomLine, PAUSE_KEYS, PauseInput, pauseLine, plainPrinter } from './plain.js';

export { PauseInput };

interface RunFlags {
  hostname?: string;
  env?: string[];
  workdir?: string;
  entrypoint?: string;
  rm?: boolean;
  step?: boolean;
  break?: string;
  quiet?: boolean;
  user?: string;
  securityOpt?: string[];
  network: 'none' | 'host';
  userns?: boolean;
  uidmap?: string[];
  gidmap?: string[];
  name?: string;
  detach?: boolean;
  interactive?: boolean;
  tty?: boolean;
  memory?: number;
  cpus?: number;
  pidsLimit?: number;
  trace?: 'full' | 'lesson' | 'off';
  record?: string;
  ulimit?: { type: string; soft: number; hard: number }[];
  tui?: boolean;
  plain?: boolean;
}

/**
 * While the program runs: a snapshot a second (namespaces, cgroup usage,
 * processes), so the TUI's gauges move and a recording has them to replay.
 */
function sampleWhileRunning(ctx: RunContext, events: EventSink): () => void {
  let busy = false;
  const timer = setInterval(() => {
    if (busy || ctx.exit) return;
    busy = true;
    takeSnapshot(ctx, 'running')
      .then((snapshot) => {
        if (!ctx.exit) events({ kind: 'snapshot', t: Date.now(), snapshot });
      })
      .catch(() => undefined)
      .finally(() => (busy = false));
  }, SAMPLE_MS);
  timer.unref();
  return () => clearInterval(timer);
}

const SAMPLE_MS = 1000;

/** The TUI's s key: glassbox shell ID, on this terminal, until the shell exits. */
export function shellIn(cmd: Command, id: string): Promise<void> {
  const root = (cmd.optsWithGlobals() as { root?: string }).root;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [process.argv[1]!, ...(root ? ['--root', root] : []), 'shell', id], { stdio: 'inherit' });
    const done = () => {
      // An interactive shell made its own process group the terminal's foreground and left it so.
      if (process.stdin.isTTY) {
        try {
          addon().reclaimTerminal(0);
        } catch {
          // not our terminal any more: nothing to take back
        }
      }
      resolve();
    };
    child.on('exit', done);
    child.on('error', done);
  });
}

/** Plain-mode pause: a line on stdin continues, "c" (or the end of input) runs to the end, terminal or not. */
export function pauser(input: PauseInput) {
  return async (stage: Stage, ctx: RunContext, signal?: AbortSignal, resumed?: Promise<unknown>): Promise<'step' | 'continue'> => {
    process.stderr.write(`${pauseLine(stage.id, stage.describe(ctx), ctx.id || undefined)}${PAUSE_KEYS}`);
    const outside = resumed?.then(() => {
      process.stderr.write('resumed from another terminal\n');
      return '';
    });
    const line = await Promise.race([input.next(signal), ...(outside ? [outside] : [])]);
    if (line === undefined || line.trim() === 'c') {
      input.close();
      return 'continue';
    }
    return 'step';
  };
}

/** A flag parser that turns a GlassboxError into commander's one-line refusal. */
function parseOrExit<T>(parse: (s: string) => T): (s: string) => T {
  return (s) => {
    try {
      return parse(s);
    } catch (e) {
      throw new InvalidArgumentError(e instanceof GlassboxError ? e.detail : (e as Error).message);
    }
  };
}

function parsePids(s: string): number {
  const n = Number(s);
  if (!/^-?\d+$/.test(s.trim()) || !Number.isSafeInteger(n)) throw new GlassboxError(`invalid pids limit "${s}": a whole number`, { op: 'run', code: 'EINVAL' });
  // docker: 0 or -1 mean no limit
  return n <= 0 ? 0 : n;
}

function securityOpts(opts: string[] = []): { noNewPrivileges: boolean; seccomp: boolean } {
  let noNewPrivileges = false;
  let seccomp = true;
  for (const o of opts) {
    if (o === 'no-new-privileges' || o === 'no-new-privileges:true' || o === 'no-new-privileges=true') noNewPrivileges = true;
    else if (o === 'seccomp=unconfined' || o === 'seccomp:unconfined') seccomp = false;
    else throw new GlassboxError(`unsupported --security-opt "${o}": glassbox knows no-new-privileges and seccomp=unconfined`, { op: 'run', code: 'EINVAL' });
  }
  return { noNewPrivileges, seccomp };
}

/** docker's --ulimit names, and the rlimit each one is. */
const ULIMITS: Record<string, string> = {
  as: 'RLIMIT_AS',
  core: 'RLIMIT_CORE',
  cpu: 'RLIMIT_CPU',
  data: 'RLIMIT_DATA',
  fsize: 'RLIMIT_FSIZE',
  locks: 'RLIMIT_LOCKS',
  memlock: 'RLIMIT_MEMLOCK',
  msgqueue: 'RLIMIT_MSGQUEUE',
  nice: 'RLIMIT_NICE',
  nofile: 'RLIMIT_NOFILE',
  nproc: 'RLIMIT_NPROC',
  rss: 'RLIMIT_RSS',
  rtprio: 'RLIMIT_RTPRIO',
  rttime: 'RLIMIT_RTTIME',
  sigpending: 'RLIMIT_SIGPENDING',
  stack: 'RLIMIT_STACK',
};

/** --ulimit nofile=1024[:2048], as docker: the soft limit, then the hard one (the same if left out); -1 is unlimited. */
export function parseUlimit(v: string, prev: { type: string; soft: number; hard: number }[] = []): { type: string; soft: number; hard: number }[] {
  const m = /^([a-z]+)=(-1|\d+)(?::(-1|\d+))?$/.exec(v);
  const type = m ? ULIMITS[m[1]!] : undefined;
  if (!m || !type) throw new InvalidArgumentError(`"${v}" is not a ulimit: use NAME=SOFT[:HARD] with NAME one of ${Object.keys(ULIMITS).join(', ')}`);
  const soft = Number(m[2]);
  const hard = m[3] !== undefined ? Number(m[3]) : soft;
  if (hard !== -1 && (soft === -1 || soft > hard)) throw new InvalidArgumentError(`"${v}": the soft limit is above the hard one`);
  return [...prev.filter((l) => l.type !== type), { type, soft, hard }];
}

/**
 * run -t: copy bytes between this terminal and the container's pty master,
 * this terminal in raw mode so every key (Ctrl-C too) goes to the program,
 * window size changes passed on. Ends when the program closes the pty.
 */
function bridgeTerminal(ctx: RunContext, interactive: boolean): void {
  if (ctx.ptyMaster === undefined) return;
  ctx.ptyTaken = true;
  copyTerminal(ctx.ptyMaster, interactive);
}

/** Copy this terminal to a pty master and back until the other side closes; the master is closed then. */
export function copyTerminal(master: number, interactive: boolean): void {
  const pty = new tty.ReadStream(master);
  const stdin = process.stdin;
  const raw = interactive && stdin.isTTY;
  if (raw) stdin.setRawMode(true);
  if (interactive) stdin.pipe(pty);
  pty.pipe(process.stdout, { end: false });
  const resize = () => {
    try {
      addon().setWinsize(master, process.stdout.rows, process.stdout.columns);
    } catch {
      // the pty is gone
    }
  };
  if (process.stdout.isTTY) process.stdout.on('resize', resize);
  const done = () => {
    if (interactive) stdin.unpipe(pty);
    if (raw) stdin.setRawMode(false);
    stdin.pause();
    process.stdout.off('resize', resize);
    pty.destroy();
  };
  // The program's end closes the slave: reading the master then fails with EIO.
  pty.on('error', done);
  pty.on('end', done);
}

/** Set in the background glassbox that run -d starts: its fd 3 reports the id, or the first error. */
const DETACHED_ENV = 'GLASSBOX_DETACHED';

function reportToParent(id: string): void {
  try {
    fs.writeSync(3, JSON.stringify({ id }) + '\n');
    fs.closeSync(3);
  } catch {
    // the parent is gone; the container runs on
  }
}

/**
 * run -d: the same command line runs again, in a session of its own, with no
 * terminal; this process waits only for the container id (or the error that
 * came first), prints it, and leaves.
 */
async function detach(): Promise<string> {
  const child = spawn(process.execPath, [process.argv[1]!, ...process.argv.slice(2)], {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
    env: { ...process.env, [DETACHED_ENV]: '1' },
  });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const idLine = new Promise<string | undefined>((resolve) => {
    let buf = '';
    (child.stdio[3] as NodeJS.ReadableStream).on('data', (d: Buffer) => (buf += d.toString()));
    (child.stdio[3] as NodeJS.ReadableStream).on('end', () => resolve(buf.trim() || undefined));
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const line = await Promise.race([idLine, exited.then(() => idLine)]);
  if (line) {
    child.stderr!.destroy();
    child.unref();
    return (JSON.parse(line) as { id: string }).id;
  }
  const code = await exited;
  // The background run's own error line, and its exit code (127 for a command not found).
  const first = err.split('\n').find((l) => l.startsWith('glassbox: '))?.replace(/^glassbox: /, '') ?? 'run: the background run failed';
  const i = first.indexOf(': ');
  throw new GlassboxError(first.slice(i + 2), { op: first.slice(0, i), code: 'EIO', exitCode: code ?? 1 });
}

export function runCommand(program: Command): void {
  program
    .command('gc')
    .description('remove what a killed glassbox left behind: container directories, cgroups')
    .action(async (_o: unknown, cmd: Command) => {
      const store = await openStore(cmd);
      const r = await gc(store);
      for (const id of r.containers) process.stdout.write(`Removed container ${id.slice(0, 12)}\n`);
      for (const p of r.cgroups) process.stdout.write(`Removed cgroup ${p}\n`);
    });

  program
    .command('run')
    .description('run a command in a new container, one visible stage at a time')
    .argument('[image]', 'image reference, ID or digest (pulled if missing); without one, the built-in demo')
    .argument('[command...]', 'command and arguments (default: the image Cmd)')
    .option('--hostname <name>', 'container hostname (default: the short container ID)')
    .option('-e, --env <KEY=VALUE>', 'set an environment variable (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .option('-w, --workdir <dir>', 'working directory inside the container')
    .option('-u, --user <user[:group]>', 'user to run as, by name or number (default: the image User, or root)')
    .option('--ulimit <name=soft[:hard]>', 'a resource limit, as docker (nofile=1024:2048; repeatable)', parseUlimit)
    .option('--security-opt <opt>', 'no-new-privileges, seccomp=unconfined (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--entrypoint <cmd>', "override the image's Entrypoint")
    .addOption(new Option('--network <mode>', 'none: only loopback, in a namespace of its own; host: the host network').choices(['none', 'host']).default('none'))
    .option('--userns', 'a user namespace of its own: the container\'s root is host ID 100000, not root (with --uidmap/--gidmap: as they say)')
    .option('--uidmap <c:h:n>', 'container IDs c.. are host IDs h.. for n IDs (podman\'s form, 0:100000:65536; repeatable; implies --userns)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--gidmap <c:h:n>', 'the same for group IDs (default: as --uidmap)', (v: string, prev: string[] = []) => [...prev, v])
    .option('-m, --memory <bytes>', 'memory limit (docker forms: 512m, 1g); the OOM killer ends the program past it', parseOrExit(parseMemory))
    .option('--cpus <n>', 'CPU limit in cores (0.5 = half a core)', parseOrExit(parseCpus))
    .option('--pids-limit <n>', 'most processes the container may have', parseOrExit(parsePids))
    .option('--rm', 'remove the container when it exits (else it is kept, exited, until glassbox rm)')
    .option('--name <name>', 'a name for the container, unique in the store')
    .option('-i, --interactive', "keep stdin open to the program (else it reads /dev/null)")
    .option('-t, --tty', 'give the program a pseudo-terminal (with -i: a shell you can type in)')
    .option('-d, --detach', 'run in the background: print the container id; its output goes to glassbox logs')
    .option('--step', 'pause before every stage')
    .option('--break <stages>', `pause before these stages (comma separated): ${stageIds().join(', ')}`)
    .option('-q, --quiet', 'no stage lines')
    .option('--tui', 'the terminal UI (the default on a terminal, without -i, -t, -d or -q)')
    .option('--plain', 'plain lines, not the terminal UI')
    .addOption(new Option('--trace <mode>', 'record syscalls: full (every one), lesson (those the lessons explain, through seccomp-bpf), off; default lesson with --record, else off').choices(['full', 'lesson', 'off']))
    .option('--record <file>', 'write the whole event stream to this file (JSON Lines; gzip if it ends in .gz), for glassbox replay')
    .passThroughOptions()
    .action(async (image: string | undefined, command: string[], o: RunFlags, cmd: Command) => {
      const userns = usernsFromFlags(o);
      refuseHostNetwork(userns, o.network, 'run');
      const ids = new Set(stageIds());
      const breaks = o.break ? o.break.split(',').map((s) => s.trim()).filter(Boolean) : [];
      for (const b of breaks) if (!ids.has(b)) throw new GlassboxError(`unknown stage "${b}"; stages: ${[...ids].join(', ')}`, { op: 'run', code: 'EINVAL' });
      if (o.name !== undefined && !/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(o.name)) {
        throw new GlassboxError(`invalid container name "${o.name}": letters, digits, _ . - and a letter or digit first, as docker`, { op: 'run', code: 'EINVAL' });
      }
      if (o.detach && !process.env[DETACHED_ENV]) {
        process.stdout.write(`${await detach()}\n`);
        return;
      }
      const detached = Boolean(process.env[DETACHED_ENV]);
      if (detached) {
        // The parent stops reading once it has the id: writes to its pipe must not end this process.
        process.stderr.on('error', () => {});
        process.stdout.on('error', () => {});
      }
      // The kernel's wait before the helper's first cgroup move, begun as the program loaded (early.ts); else the engine begins it.
      const cgroupWarm = takeEarlyCgroupWarm();
      const store = await openStore(cmd);
      // No image: the demo, built here from native/demo, so this works with no registry at all.
      const demo = !image;
      if (!image) image = (await (await import('../image/demo.js')).ensureDemoImage(store)).name;
      const input = new PauseInput();
      // The file first: a name already taken fails before anything is made.
      const recorder = o.record ? await (await import('../trace/record.js')).openRecorder(o.record) : undefined;
      // The TUI: asked for, or a terminal on both sides and nothing that needs the terminal for itself.
      const useTui = !o.plain && (o.tui || (Boolean(process.stdout.isTTY && process.stdin.isTTY) && !o.tty && !o.interactive && !detached && !o.quiet));
      if (useTui && (o.tty || o.interactive || detached)) throw new GlassboxError('--tui cannot share the terminal with -i, -t or -d', { op: 'run', code: 'EINVAL' });
      const breakpoints = o.step ? 'all' : breaks.length ? new Set(breaks) : undefined;
      const tui = useTui
        ? (await import('../tui/index.js')).startTui({
            mode: 'live',
            stages: stageIds(),
            // The demo (the README's first command) steps through every stage.
            breakpoints: breakpoints ?? (demo ? 'all' : undefined),
            shell: (id) => shellIn(cmd, id),
          })
        : undefined;
      const print = tui ? tui.sink : plainPrinter({ quiet: Boolean(o.quiet) || detached });
      const events: EventSink = recorder
        ? (e) => {
            recorder.sink(e);
            print(e);
          }
        : print;
      const trace = o.trace ?? (recorder || tui ? 'lesson' : 'off');
      let stopSampling: (() => void) | undefined;
      const runIt = (signal: AbortSignal) =>
        runContainer(
          store,
          {
            image,
            command,
            env: o.env,
            workdir: o.workdir,
            hostname: o.hostname,
            user: o.user,
            network: o.network,
            userns,
            name: o.name,
            rm: o.rm,
            detached,
            onStarted: detached
              ? (c) => reportToParent(c.id)
              : o.tty
                ? (c) => bridgeTerminal(c, Boolean(o.interactive))
                : tui || recorder
                  ? (c) => (stopSampling = sampleWhileRunning(c, events))
                  : undefined,
            interactive: o.interactive,
            tty: o.tty,
            ttySize: process.stdout.isTTY ? { rows: process.stdout.rows, cols: process.stdout.columns } : undefined,
            noNewPrivileges: securityOpts(o.securityOpt).noNewPrivileges,
            seccomp: securityOpts(o.securityOpt).seccomp,
            rlimits: o.ulimit,
            entrypoint: o.entrypoint ? [o.entrypoint] : undefined,
            // docker: 0 means no limit
            limits: { memoryBytes: o.memory || undefined, cpus: o.cpus || undefined, pidsMax: o.pidsLimit || undefined },
            trace,
            // A recording holds the program's output too, and the TUI shows it: glassbox carries it.
            carryOutput: tui ? {} : recorder ? { stdout: process.stdout, stderr: process.stderr } : undefined,
          },
          {
            events,
            cgroupWarm,
            breakpoints: tui ? () => tui.breakpoints() : breakpoints,
            // Detached, nobody types at the pauses: only glassbox resume moves the run on.
            onPause: tui
              ? (stage, ctx, sig, resumed) => tui.onPause(stage.id, stage.describe(ctx), ctx.id || undefined, sig, resumed)
              : detached
                ? (_s, _c, _sig, resumed) => (resumed ?? new Promise(() => {})).then(() => 'step' as const)
                : pauser(input),
            signal,
          },
        ).finally(async () => {
          stopSampling?.();
          input.close();
          await recorder?.close();
        });
      let result;
      if (tui) {
        // The terminal is raw: Ctrl-C is a key, and q or Ctrl-C in the TUI stops the run (with full cleanup).
        let quit = false;
        void tui.quit.then(() => (quit = true));
        try {
          result = await interruptible((signal) => {
            const ac = new AbortController();
            signal.addEventListener('abort', () => ac.abort(), { once: true });
            void tui.quit.then(() => ac.abort());
            return runIt(ac.signal);
          });
        } catch (e) {
          if (!quit) await tui.finished(e instanceof GlassboxError && e.exitCode !== undefined ? e.exitCode : 1);
          tui.destroy();
          throw e;
        }
        if (!quit) await tui.finished(result.exitCode);
        tui.destroy();
      } else {
        result = await interruptible(runIt);
      }
      if (result.ctx.oomKilled) process.stderr.write(oomLine(result.ctx.options.limits?.memoryBytes));
      process.exitCode = result.exitCode;
    });
}
