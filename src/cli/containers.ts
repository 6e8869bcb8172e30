// inspect, resume, shell: a running glassbox, seen and driven from another terminal.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { constants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import type { Store } from '../image/store.js';
import { askControl, type ControlReply } from '../runtime/control.js';
import { familiarName, parseReference } from '../image/reference.js';
import { openCgroup } from '../runtime/cgroup/index.js';
import { execInContainer } from '../runtime/exec.js';
import { formatSnapshot } from '../runtime/snapshot.js';
import { logPath } from '../runtime/stages/spawn.js';
import { containerDir, listContainers, stateOf } from '../runtime/state.js';
import { ownUserNamespace } from '../runtime/userns.js';
import { GlassboxError } from '../util/errors.js';
import { openStore } from './images.js';
import { copyTerminal } from './run.js';
import { table } from './table.js';

/** A container by its name, its id or a unique prefix of it, as docker takes them. */
export function resolveContainer(store: Store, query: string, op: string): string {
  const byName = listContainers(store).find((c) => c.name === query);
  if (byName) return byName.id;
  const ids = store.containerIds().filter((id) => id.startsWith(query));
  if (ids.length === 0 || query.length === 0) throw new GlassboxError('no such container', { op, subject: query, code: 'ENOENT' });
  if (ids.length > 1) throw new GlassboxError(`ambiguous: matches ${ids.map((i) => i.slice(0, 12)).join(', ')}`, { op, subject: query, code: 'EINVAL' });
  return ids[0]!;
}

function ok<T extends ControlReply>(r: ControlReply, op: string): Exclude<T, { ok: false }> {
  if (!r.ok) throw new GlassboxError(r.error, { op, code: 'EPROTO' });
  return r as Exclude<T, { ok: false }>;
}

export function containerCommands(program: Command): void {
  program
    .command('inspect')
    .description("a container's namespaces beside the host's, its mounts, cgroup files, interfaces and processes, now")
    .argument('<container>', 'container id or a unique prefix')
    .option('--json', 'the snapshot as JSON')
    .action(async (query: string, o: { json?: boolean }, cmd: Command) => {
      const store = await openStore(cmd);
      const id = resolveContainer(store, query, 'inspect');
      const state = stateOf(store, id);
      if (state && !state.alive) {
        // Nobody runs it any more: what its files say.
        const config = JSON.parse(fs.readFileSync(`${containerDir(store, id)}/config.json`, 'utf8')) as unknown;
        const out = { state, config };
        process.stdout.write(
          o.json
            ? JSON.stringify(out, null, 2) + '\n'
            : `container ${id.slice(0, 12)}${state.name ? ` (${state.name})` : ''}: ${state.status}${state.exitCode !== undefined ? `, exit code ${state.exitCode}` : ''}${state.oomKilled ? ', killed by the OOM killer' : ''}\nimage ${state.image}, command ${JSON.stringify(state.command)}\ncreated ${state.created}${state.finished ? `, finished ${state.finished}` : ''}\nits OCI runtime config: ${containerDir(store, id)}/config.json\n`,
        );
        return;
      }
      const r = ok<Extract<ControlReply, { snapshot: unknown }>>(await askControl(store.root, id, { cmd: 'inspect' }), 'inspect');
      process.stdout.write(o.json ? JSON.stringify(r.snapshot, null, 2) + '\n' : formatSnapshot(r.snapshot));
    });

  program
    .command('resume')
    .description('let a paused run take its next stage')
    .argument('<container>', 'container id or a unique prefix')
    .action(async (query: string, _o: unknown, cmd: Command) => {
      const store = await openStore(cmd);
      const id = resolveContainer(store, query, 'resume');
      const r = ok<Extract<ControlReply, { resumed: boolean }>>(await askControl(store.root, id, { cmd: 'resume' }), 'resume');
      if (!r.resumed) throw new GlassboxError('it is not paused', { op: 'resume', subject: id.slice(0, 12), code: 'EINVAL' });
    });

  program
    .command('shell')
    .description("a shell in the container's namespaces as they are now (nsenter), even half built")
    .argument('<container>', 'container id or a unique prefix')
    .argument('[command...]', 'command to run instead of sh')
    .passThroughOptions()
    .action(async (query: string, command: string[], _o: unknown, cmd: Command) => {
      const store = await openStore(cmd);
      const id = resolveContainer(store, query, 'shell');
      const r = ok<Extract<ControlReply, { status: unknown }>>(await askControl(store.root, id, { cmd: 'status' }), 'shell');
      const pid = r.status.pid;
      if (!pid) throw new GlassboxError('no process to enter yet: the helper starts at the spawn stage', { op: 'shell', subject: id.slice(0, 12), code: 'ESRCH' });
      // Every namespace the process has, its root and its working directory.
      // --userns: its user namespace too (nsenter then becomes its root), or the others cannot be entered.
      const ownUserns = ownUserNamespace(pid);
      const args = ['--target', String(pid), ...(ownUserns ? ['--user'] : []), '--mount', '--uts', '--ipc', '--net', '--pid', '--cgroup', '--root', '--wd', '--', ...(command.length ? command : ['/bin/sh'])];
      const res = spawnSync('nsenter', args, { stdio: 'inherit' });
      if (res.error) throw new GlassboxError(`nsenter: ${res.error.message}`, { op: 'shell', code: 'ENOENT' });
      process.exitCode = res.status ?? 1;
    });
}

function ago(iso: string | undefined): string {
  if (!iso) return '';
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return `${Math.floor(s)} seconds`;
  if (s < 3600) return `${Math.floor(s / 60)} minutes`;
  if (s < 86400) return `${Math.floor(s / 3600)} hours`;
  return `${Math.floor(s / 86400)} days`;
}

async function waitUntilStopped(store: Store, id: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const s = stateOf(store, id);
    if (!s || !s.alive) return true;
    await sleep(50);
  }
  return false;
}

export function lifecycleCommands(program: Command): void {
  program
    .command('exec')
    .description('run another program in a running container: its namespaces, cgroup, capabilities')
    .argument('<container>', 'name, id or unique id prefix')
    .argument('<command...>', 'command and arguments')
    .option('-i, --interactive', 'keep stdin open to the program')
    .option('-t, --tty', 'give the program a pseudo-terminal')
    .option('-u, --user <user[:group]>', 'user to run as')
    .option('-e, --env <KEY=VALUE>', 'set an environment variable (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .option('-w, --workdir <dir>', 'working directory')
    .passThroughOptions()
    .action(async (query: string, argv: string[], o: { interactive?: boolean; tty?: boolean; user?: string; env?: string[]; workdir?: string }, cmd: Command) => {
      const store = await openStore(cmd);
      const id = resolveContainer(store, query, 'exec');
      const state = stateOf(store, id);
      if (!state?.alive) throw new GlassboxError('it is not running', { op: 'exec', subject: query, code: 'EINVAL' });
      process.exitCode = await execInContainer(store, id, {
        argv,
        env: o.env,
        workdir: o.workdir,
        user: o.user,
        interactive: o.interactive,
        tty: o.tty,
        ttySize: process.stdout.isTTY ? { rows: process.stdout.rows, cols: process.stdout.columns } : undefined,
        onStarted: (master) => {
          if (master !== undefined) copyTerminal(master, Boolean(o.interactive));
        },
      });
    });

  program
    .command('ps')
    .description('list containers: running ones, and with -a those that exited')
    .option('-a, --all', 'exited containers too')
    .option('-q, --quiet', 'only ids')
    .action(async (o: { all?: boolean; quiet?: boolean }, cmd: Command) => {
      const store = await openStore(cmd);
      const list = listContainers(store).filter((c) => o.all || c.alive);
      if (o.quiet) {
        for (const c of list) process.stdout.write(`${c.id.slice(0, 12)}\n`);
        return;
      }
      const rows = [['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'NAMES']];
      for (const c of list) {
        const command = JSON.stringify(c.command.join(' ')).slice(0, 24);
        const status = c.alive ? `Up ${ago(c.created)}` : c.status === 'exited' ? `Exited (${c.exitCode}) ${ago(c.finished)} ago` : 'Dead (glassbox gc removes it)';
        rows.push([c.id.slice(0, 12), familiarName(parseReference(c.image)), command, `${ago(c.created)} ago`, status, c.name ?? '']);
      }
      process.stdout.write(table(rows));
    });

  program
    .command('stop')
    .description('stop running containers: SIGTERM, then SIGKILL after the grace period')
    .argument('<container...>', 'names, ids or unique id prefixes')
    .option('-t, --time <seconds>', 'grace period before SIGKILL', '10')
    .action(async (queries: string[], o: { time: string }, cmd: Command) => {
      const store = await openStore(cmd);
      const ms = Math.max(0, Number(o.time)) * 1000;
      for (const q of queries) {
        const id = resolveContainer(store, q, 'stop');
        const state = stateOf(store, id);
        if (!state?.alive) throw new GlassboxError('it is not running', { op: 'stop', subject: q, code: 'EINVAL' });
        ok(await askControl(store.root, id, { cmd: 'stop', timeoutMs: ms }), 'stop');
        if (!(await waitUntilStopped(store, id, ms + 10_000))) throw new GlassboxError('it did not stop', { op: 'stop', subject: q, code: 'ETIMEDOUT' });
        process.stdout.write(`${q}\n`);
      }
    });

  program
    .command('kill')
    .description('send a signal to the program of running containers (default SIGKILL)')
    .argument('<container...>', 'names, ids or unique id prefixes')
    .option('-s, --signal <signal>', 'signal name or number', 'SIGKILL')
    .action(async (queries: string[], o: { signal: string }, cmd: Command) => {
      const store = await openStore(cmd);
      const signal = signalName(o.signal);
      for (const q of queries) {
        const id = resolveContainer(store, q, 'kill');
        const state = stateOf(store, id);
        if (!state?.alive) throw new GlassboxError('it is not running', { op: 'kill', subject: q, code: 'EINVAL' });
        ok(await askControl(store.root, id, { cmd: 'kill', signal }), 'kill');
        process.stdout.write(`${q}\n`);
      }
    });

  program
    .command('rm')
    .description('remove exited containers (and running ones with -f)')
    .argument('<container...>', 'names, ids or unique id prefixes')
    .option('-f, --force', 'kill a running container first')
    .action(async (queries: string[], o: { force?: boolean }, cmd: Command) => {
      const store = await openStore(cmd);
      for (const q of queries) {
        const id = resolveContainer(store, q, 'rm');
        const state = stateOf(store, id);
        if (state?.alive) {
          if (!o.force) throw new GlassboxError('it is running: stop it first, or use -f', { op: 'rm', subject: q, code: 'EBUSY' });
          ok(await askControl(store.root, id, { cmd: 'kill', signal: 'SIGKILL' }), 'rm');
          if (!(await waitUntilStopped(store, id, 10_000))) throw new GlassboxError('it did not stop', { op: 'rm', subject: q, code: 'ETIMEDOUT' });
        }
        const cg = await openCgroup(id, { parent: store.cgroupParent });
        await cg?.destroy();
        fs.rmSync(containerDir(store, id), { recursive: true, force: true });
        process.stdout.write(`${q}\n`);
      }
    });

  program
    .command('logs')
    .description("a detached container's output")
    .argument('<container>', 'name, id or unique id prefix')
    .option('-f, --follow', 'keep printing until the container exits')
    .action(async (query: string, o: { follow?: boolean }, cmd: Command) => {
      const store = await openStore(cmd);
      const id = resolveContainer(store, query, 'logs');
      const file = logPath(containerDir(store, id));
      let offset = 0;
      const drain = () => {
        let fd: number;
        try {
          fd = fs.openSync(file, 'r');
        } catch {
          return;
        }
        try {
          const buf = Buffer.alloc(64 * 1024);
          for (let n; (n = fs.readSync(fd, buf, 0, buf.length, offset)) > 0; offset += n) process.stdout.write(buf.subarray(0, n));
        } finally {
          fs.closeSync(fd);
        }
      };
      drain();
      while (o.follow && stateOf(store, id)?.alive) {
        await sleep(100);
        drain();
      }
      drain();
    });
}

function signalName(s: string): NodeJS.Signals {
  const byNumber = Object.entries(constants.signals).find(([, n]) => String(n) === s)?.[0];
  const name = (byNumber ?? (s.toUpperCase().startsWith('SIG') ? s.toUpperCase() : `SIG${s.toUpperCase()}`)) as NodeJS.Signals;
  if (!(name in constants.signals)) throw new GlassboxError(`unknown signal "${s}"`, { op: 'kill', code: 'EINVAL' });
  return name;
}
