// The recordings shipped in traces/ stay readable by this glassbox: each one
// replays to its end, with its recorded exit code, and has the stages, the
// pauses, the notes and the syscalls a classroom replay shows.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import type { GlassboxEvent } from '../src/events/schema.js';
import { readTrace } from '../src/trace/read.js';
import { repoRoot } from './lib/fixtures.js';

const dir = path.join(repoRoot(), 'traces');
const files = fs.readdirSync(dir).filter((f) => /\.jsonl(\.gz)?$/.test(f)).sort();
const bin = path.join(repoRoot(), 'dist/src/cli/bin.js');

t.test('traces/ holds the four walkthrough recordings', async (t) => {
  t.same(files, ['01-docker-run.jsonl.gz', '02-namespaces.jsonl.gz', '03-cgroups.jsonl.gz', '04-layers.jsonl.gz']);
});

for (const f of files) {
  t.test(`${f} replays to its recorded end`, async (t) => {
    const evs: GlassboxEvent[] = [];
    for await (const e of readTrace(path.join(dir, f))) evs.push(e);
    const header = evs[0];
    t.equal(header?.kind, 'header');
    if (header?.kind !== 'header') return;
    t.same(
      evs.filter((e) => e.kind === 'stage' && e.phase === 'end').map((e) => (e.kind === 'stage' ? e.stage : '')),
      header.stages,
      'every stage ran',
    );
    t.ok(evs.some((e) => e.kind === 'stage' && e.phase === 'paused'), 'it paused');
    t.ok(evs.some((e) => e.kind === 'snapshot'), 'with snapshots of the half-built container');
    t.ok(evs.some((e) => e.kind === 'note'), 'and the walkthrough notes');
    t.ok(evs.filter((e) => e.kind === 'syscall').length > 100, 'and its syscalls');
    const exit = evs.find((e) => e.kind === 'exit');
    t.ok(exit, 'the program exit is recorded');
    const r = spawnSync(process.execPath, [bin, 'replay', '--plain', path.join(dir, f)], { encoding: 'utf8', env: { PATH: process.env.PATH, NO_COLOR: '1' } });
    t.equal(r.status, exit?.kind === 'exit' ? exit.code : -1, r.stderr.split('\n').slice(-3).join('\n'));
    t.match(r.stderr, /✓ running/);
    if (exit?.kind === 'exit' && exit.oomKilled) t.match(r.stderr, /^glassbox: the kernel's OOM killer ended the program: it used more than the --memory limit \(\d+ bytes\)$/m, 'the OOM line names the recorded limit');
  });
}

t.test('replay with no file plays the first recording', async (t) => {
  const r = spawnSync(process.execPath, [bin, 'replay', '--plain'], { encoding: 'utf8', env: { PATH: process.env.PATH, NO_COLOR: '1' } });
  t.equal(r.status, 0, r.stderr);
  t.match(r.stderr, /── at pull/);
});
