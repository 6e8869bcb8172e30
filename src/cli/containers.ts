// inspect, resume, shell: a running glassbox, seen and driven from another terminal.
import { spawnSync } from 'node:child_process';
import type { Command } from 'commander';
import type { Store } from '../image/store.js';
import { askControl, type ControlReply } from '../runtime/control.js';
import { formatSnapshot } from '../runtime/snapshot.js';
import { GlassboxError } from '../util/errors.js';
import { openStore } from './images.js';

/** A container by its id or a unique prefix of it, as docker takes them. */
export function resolveContainer(store: Store, query: string, op: string): string {
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
      const args = ['--target', String(pid), '--mount', '--uts', '--ipc', '--net', '--pid', '--cgroup', '--root', '--wd', '--', ...(command.length ? command : ['/bin/sh'])];
      const res = spawnSync('nsenter', args, { stdio: 'inherit' });
      if (res.error) throw new GlassboxError(`nsenter: ${res.error.message}`, { op: 'shell', code: 'ENOENT' });
      process.exitCode = res.status ?? 1;
    });
}
