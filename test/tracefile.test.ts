// Trace files: recorded, read back, broken in every way a file breaks,
// summarised, exported for Perfetto and as strace text, replayed through the
// CLI (stepping from stdin, and as an unprivileged user).
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import t from 'tap';
import type { GlassboxEvent } from '../src/events/schema.js';
import { SCHEMA_VERSION } from '../src/events/schema.js';
import { perfettoJson, type TraceEvent } from '../src/trace/export/perfetto.js';
import { straceText } from '../src/trace/export/strace.js';
import { readTrace } from '../src/trace/read.js';
import { BACKLOG_LIMIT, openRecorder } from '../src/trace/record.js';
import { formatStats, traceStats } from '../src/trace/stats.js';
import { GlassboxError } from '../src/util/errors.js';
import { catLoop, header, runStream } from './lib/traces.js';
import { tmpdir } from './lib/tmp.js';
import { repoRoot } from './lib/fixtures.js';
import { reachableByNobody } from './lib/nobody.js';
import { packagedTraces } from '../src/cli/trace.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** The CLI of the build these tests were compiled into (dist/ or a dist-<name>/). */
const BIN = path.resolve(here, '../src/cli/bin.js');

async function record(file: string, events: Iterable<GlassboxEvent>): Promise<number> {
  const r = await openRecorder(file);
  for (const e of events) r.sink(e);
  await r.close();
  return r.bytes();
}

/** Every event readTrace delivers, and the error it ended with (if any). */
async function readAll(file: string): Promise<{ events: GlassboxEvent[]; error?: GlassboxError }> {
  const events: GlassboxEvent[] = [];
  try {
    for await (const e of readTrace(file)) events.push(e);
  } catch (e) {
    if (!(e instanceof GlassboxError)) throw e;
    return { events, error: e };
  }
  return { events };
}

/** readAll through the reader's batches. */
async function readAllBatches(file: string): Promise<{ events: GlassboxEvent[]; error?: GlassboxError }> {
  const events: GlassboxEvent[] = [];
  try {
    for await (const b of readTrace(file).batches()) events.push(...b);
  } catch (e) {
    if (!(e instanceof GlassboxError)) throw e;
    return { events, error: e };
  }
  return { events };
}

/** The environment of a plain user's shell: no colours, and none of tap's hooks (they write to root's .tap/). */
function plainEnv(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_OPTIONS' && !/^_?TAP/.test(k)));
  return { ...env, FORCE_COLOR: '0' };
}

function cli(args: string[], o: { input?: string } = {}) {
  return spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', input: o.input ?? '', env: plainEnv() });
}

async function collect(chunks: AsyncIterable<string>): Promise<string> {
  let s = '';
  for await (const c of chunks) s += c;
  return s;
}

const jsonl = (events: unknown[]) => events.map((e) => `${JSON.stringify(e)}\n`).join('');

t.test('a recording reads back as the same events, plain and gzipped', async (t) => {
  const dir = tmpdir(t, 'trace-rt');
  const events = runStream({ iterations: 20, pauses: ['ns-uts', 'running'], exitCode: 3 });
  for (const name of ['run.jsonl', 'run.jsonl.gz']) {
    const file = path.join(dir, name);
    const bytes = await record(file, events);
    t.equal(bytes, fs.statSync(file).size, `${name}: bytes() is the size on disk`);
    t.equal(fs.statSync(file).mode & 0o777, 0o644, `${name}: world-readable, so anyone can replay it`);
    const back = await readAll(file);
    t.notOk(back.error, `${name}: no error`);
    t.same(back.events, events, `${name}: the events in are the events out`);
    t.equal(back.events.length, events.length);
  }
  const head = fs.readFileSync(path.join(dir, 'run.jsonl.gz')).subarray(0, 2);
  t.same([...head], [0x1f, 0x8b], '.gz is gzip');
  const plain = fs.readFileSync(path.join(dir, 'run.jsonl'), 'utf8').split('\n');
  t.same(JSON.parse(plain[1]!), events[1], 'each line is exactly one schema event');
  // Gzip is told by magic, not by name.
  fs.copyFileSync(path.join(dir, 'run.jsonl.gz'), path.join(dir, 'renamed.jsonl'));
  t.same((await readAll(path.join(dir, 'renamed.jsonl'))).events, events, 'a gzipped file with another name still reads');
});

t.test('a recording is created new, in a directory that exists, or refused in one line', async (t) => {
  const dir = tmpdir(t, 'trace-open');
  const file = path.join(dir, 'a.jsonl');
  fs.writeFileSync(file, 'precious\n');
  await t.rejects(openRecorder(file), { message: `record ${file}: the file exists; a recording never overwrites one` });
  t.equal(fs.readFileSync(file, 'utf8'), 'precious\n', 'the existing file is untouched');
  const missing = path.join(dir, 'no', 'such', 'b.jsonl.gz');
  await t.rejects(openRecorder(missing), { message: `record ${missing}: no directory ${path.dirname(missing)} (it is not created)` });
  t.notOk(fs.existsSync(path.join(dir, 'no')));
});

t.test('the recorder flushes on its own: a file is readable while the run goes on', async (t) => {
  const dir = tmpdir(t, 'trace-live');
  const file = path.join(dir, 'live.jsonl.gz');
  const r = await openRecorder(file, { flushMs: 50 });
  const events = runStream({ iterations: 5 });
  const running = events.findIndex((e) => e.kind === 'syscall');
  for (const e of events.slice(0, running + 10)) r.sink(e);
  // No flush() and no stage event since the syscalls: only the timer writes them.
  await new Promise((resolve) => setTimeout(resolve, 400));
  const mid = await readAll(file);
  t.same(mid.events, events.slice(0, running + 10), 'every event so far is on disk');
  t.match(mid.error?.message, /line \d+: the file ends in the middle of a compressed block/, 'the open gzip stream reads as cut short there');
  t.ok(r.backlog() < 1024, 'nothing is held back');
  await r.close();
});

t.test('a recorder killed mid-run leaves every line up to its last flush readable', async (t) => {
  const dir = tmpdir(t, 'trace-crash');
  for (const name of ['crash.jsonl.gz', 'crash.jsonl']) {
    const file = path.join(dir, name);
    // The child records a run, flushes, says how many events are on disk, then keeps recording until killed.
    const script = `
      import { openRecorder } from ${JSON.stringify(pathToFileURL(path.resolve(here, '../src/trace/record.js')).href)};
      import { runStream, catLoop } from ${JSON.stringify(pathToFileURL(path.resolve(here, 'lib/traces.js')).href)};
      const r = await openRecorder(${JSON.stringify(file)}, { flushMs: 3600000 });
      const events = runStream({ iterations: 30 }).filter((e) => e.kind !== 'exit');
      for (const e of events) r.sink(e);
      await r.flush();
      process.stdout.write('flushed ' + events.length + '\\n');
      for (const e of catLoop({ iterations: 200, seed: 7 })) r.sink(e);
      // Time for zlib to write some of it: the file then ends inside a block.
      await new Promise((resolve) => setTimeout(resolve, 300));
      process.stdout.write('more\\n');
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('more\n')) resolve();
      });
      child.on('exit', () => resolve());
    });
    child.kill('SIGKILL');
    await new Promise((resolve) => child.on('close', resolve));
    const flushed = Number(/flushed (\d+)/.exec(out)?.[1]);
    t.ok(flushed > 100, `${name}: the child flushed ${flushed} events`);
    const expected = runStream({ iterations: 30 }).filter((e) => e.kind !== 'exit');
    const back = await readAll(file);
    t.ok(back.events.length >= flushed, `${name}: ${back.events.length} events read back, at least the ${flushed} flushed`);
    t.same(back.events.slice(0, flushed), expected, `${name}: they are the events recorded`);
    if (name.endsWith('.gz')) {
      t.match(back.error?.message, new RegExp(`^trace ${file}: line \\d+: the file ends in the middle of a compressed block`), 'then one line says where the file was cut');
      t.notMatch(back.error?.message, /\n/);
    } else if (back.error) {
      t.match(back.error.message, /line \d+: the file ends in the middle of a line/);
    }
  }
});

t.test('a burst faster than the disk is kept in order, and a backlog past the bound is said', async (t) => {
  const dir = tmpdir(t, 'trace-burst');
  const file = path.join(dir, 'burst.jsonl.gz');
  const said: number[] = [];
  const r = await openRecorder(file, { onBacklog: (b) => said.push(b) });
  const events: GlassboxEvent[] = [header(), ...catLoop({ iterations: 9000 })];
  // All at once, without yielding: nothing reaches the disk until the loop ends.
  for (const e of events) r.sink(e);
  t.ok(r.backlog() > BACKLOG_LIMIT, `${(r.backlog() / 1e6).toFixed(1)} MB held`);
  t.equal(said.length, 1, 'onBacklog said it once');
  t.ok(said[0]! > BACKLOG_LIMIT);
  await r.close();
  t.equal(r.backlog(), 0, 'all of it written at close');
  let i = 0;
  let same = true;
  for await (const e of readTrace(file)) same &&= JSON.stringify(e) === JSON.stringify(events[i++]);
  t.equal(i, events.length, 'every event on disk');
  t.ok(same, 'in order');
});

t.test('a syscall-heavy run costs under 40 bytes per syscall gzipped', async (t) => {
  const dir = tmpdir(t, 'trace-size');
  const file = path.join(dir, 'loop.jsonl.gz');
  let n = 0;
  const r = await openRecorder(file);
  r.sink(header());
  for (const e of catLoop({ iterations: 2000 })) {
    r.sink(e);
    n++;
  }
  await r.close();
  const per = fs.statSync(file).size / n;
  t.comment(`${n} syscalls of a cat loop: ${fs.statSync(file).size} bytes, ${per.toFixed(2)} bytes/syscall`);
  t.ok(per < 40, `${per.toFixed(2)} bytes per syscall`);
});

t.test('a broken trace is one line saying what and where, after the events before it', async (t) => {
  const dir = tmpdir(t, 'trace-broken');
  const good = runStream({ iterations: 1 });
  const file = (name: string, data: string | Buffer) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, data);
    return p;
  };
  const cases: { name: string; data: string | Buffer; message: RegExp; before: number }[] = [
    { name: 'badjson.jsonl', data: jsonl(good.slice(0, 6)) + '{"kind":"stage",\n' + jsonl(good.slice(6, 8)), message: /: line 7: not JSON \(/, before: 6 },
    { name: 'unknown.jsonl', data: jsonl(good.slice(0, 4)) + '{"kind":"telepathy","t":1}\n', message: /: line 5: unknown event kind "telepathy"$/, before: 4 },
    { name: 'bad-syscall.jsonl', data: jsonl(good.slice(0, 3)) + '{"kind":"syscall","t":1,"pid":1}\n', message: /: line 4: a syscall event with no pid or tid$/, before: 3 },
    { name: 'newer.jsonl', data: jsonl([{ ...good[0]!, schema: SCHEMA_VERSION + 1 }, ...good.slice(1)]), message: new RegExp(`: written by a newer glassbox \\(schema ${SCHEMA_VERSION + 1}, this one reads ${SCHEMA_VERSION}\\)$`), before: 0 },
    { name: 'notrace.txt', data: 'hello, world\n', message: /: not a glassbox trace: the first line is not a header$/, before: 0 },
    { name: 'notheader.jsonl', data: jsonl(good.slice(1)), message: /: not a glassbox trace: the first line is not a header$/, before: 0 },
    { name: 'binary.bin', data: Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]), message: /: not a glassbox trace: the first line is not a header$/, before: 0 },
    { name: 'empty.jsonl', data: '', message: /: not a glassbox trace: the file is empty$/, before: 0 },
    { name: 'cutline.jsonl', data: jsonl(good.slice(0, 5)) + '{"kind":"stage","t":17', message: /: line 6: the file ends in the middle of a line/, before: 5 },
  ];
  const whole = gzipSync(jsonl(good));
  cases.push({ name: 'truncated.jsonl.gz', data: whole.subarray(0, Math.floor(whole.length * 0.6)), message: /: line \d+: the file ends in the middle of a compressed block/, before: 1 });
  for (const c of cases) {
    const p = file(c.name, c.data);
    const r = await readAll(p);
    const batched = await readAllBatches(p);
    t.equal(batched.error?.message, r.error?.message, `${c.name}: in batches, the same error`);
    t.same(batched.events, r.events, `${c.name}: after the same events`);
    t.ok(r.error, `${c.name}: an error`);
    t.match(r.error?.message, c.message, `${c.name}: ${r.error?.message}`);
    t.ok(r.error?.message.startsWith(`trace ${p}: `), `${c.name}: names the file`);
    t.notMatch(r.error?.message, /\n/, `${c.name}: one line`);
    if (c.name === 'truncated.jsonl.gz') t.ok(r.events.length >= 1, `${c.name}: ${r.events.length} events before the break`);
    else t.equal(r.events.length, c.before, `${c.name}: the ${c.before} events before the break came first`);
    t.same(r.events, good.slice(0, r.events.length), `${c.name}: and they are right`);
    const replay = cli(['replay', p]);
    t.not(replay.status, 0, `${c.name}: replay fails`);
    const lines = replay.stderr.split('\n').filter((l) => l.startsWith('glassbox: '));
    t.same(lines, [`glassbox: ${r.error?.message}`], `${c.name}: replay ends with that one line`);
  }
  const missing = path.join(dir, 'missing.jsonl');
  const r = await readAll(missing);
  t.equal(r.error?.message, `trace ${missing}: no such file`);
  const replay = cli(['replay', missing]);
  t.equal(replay.status, 1);
  t.equal(replay.stderr, `glassbox: trace ${missing}: no such file\n`);
});

t.test('lines across the reads: CRLF, UTF-8 cut between two reads, a line longer than a read, blank lines', async (t) => {
  const dir = tmpdir(t, 'trace-across');
  const good = runStream({ iterations: 1 });
  // Output data of multi-byte characters, placed so that one straddles the 1 MiB read boundary; a line of 3 MB.
  const out = (t0: number, data: string): GlassboxEvent => ({ kind: 'output', t: t0, stream: 'stdout', data });
  const head = jsonl(good.slice(0, 3));
  const pad = 1024 * 1024 - Buffer.byteLength(head) - 60;
  const events = [...good.slice(0, 3), out(1, 'x'.repeat(pad)), out(2, 'é€😀'.repeat(40)), out(3, 'y'.repeat(3_000_000)), ...good.slice(3)];
  const lf = jsonl(events);
  const crlf = lf.replace(/\n/g, '\r\n');
  const blank = lf.replace(/\n/, '\n\n   \n');
  for (const [name, data] of [
    ['lf.jsonl', lf],
    ['crlf.jsonl', crlf],
    ['blank.jsonl', blank],
    ['crlf.jsonl.gz', gzipSync(crlf)],
  ] as const) {
    const p = path.join(dir, name);
    fs.writeFileSync(p, data);
    const r = await readAll(p);
    t.equal(r.error, undefined, `${name}: read`);
    t.same(r.events, events, `${name}: every event as written`);
    t.same((await readAllBatches(p)).events, events, `${name}: and in batches`);
  }
});

t.test('trace stats counts calls, errors and time per stage, strace -c style, and lists the slowest', async (t) => {
  const events = runStream({ iterations: 10 });
  const st = await traceStats(events);
  const running = st.stages.find((s) => s.stage === 'running')!;
  t.equal(st.total.calls, 10 * 48, 'every syscall counted');
  t.equal(running.byName.get('openat')?.calls, 40);
  t.equal(running.byName.get('openat')?.errors, 10, 'the failed locale-archive openat');
  t.equal(running.byName.get('wait4')?.calls, 10);
  t.equal(st.slowest.length, 10);
  t.ok(st.slowest.every((e, i) => i === 0 || st.slowest[i - 1]!.dur >= e.dur), 'slowest first');
  t.ok(st.slowest.every((e) => e.name === 'wait4'), 'the shell waiting for cat is the slowest');
  const text = formatStats(st);
  t.match(text, /^stage running: 480 calls, \d+\.\d{6} s\n% time {5}seconds {2}usecs\/call {5}calls {4}errors syscall\n-{6} -{11} -{11} -{9} -{9} -{16}\n/);
  t.match(text, /^ *\d+\.\d\d +\d+\.\d{6} +\d+ +40 +10 openat$/m, 'openat: 40 calls, 10 errors');
  t.match(text, /^100\.00 +\d+\.\d{6} +\d+ +480 +\d+ total$/m);
  t.match(text, /^slowest 10 of 480 calls:\n/m);
  t.match(text, /^\d\d:\d\d:\d\d\.\d{6} +48211 +running +wait4\(-1, \[\{WIFEXITED\(s\) && WEXITSTATUS\(s\) == 0\}\], 0, NULL\) = \d+ <\d\.\d{6}>$/m);

  const dir = tmpdir(t, 'trace-stats');
  const file = path.join(dir, 's.jsonl.gz');
  await record(file, events);
  const r = cli(['trace', 'stats', file]);
  t.equal(r.status, 0, r.stderr);
  t.equal(r.stdout, text, 'the command prints the same');
});

t.test('the Perfetto export is Trace Event JSON by the format rules', async (t) => {
  const dir = tmpdir(t, 'trace-perfetto');
  const file = path.join(dir, 'p.jsonl.gz');
  const events = runStream({ iterations: 15, pauses: ['ns-uts', 'exec'] });
  await record(file, events);
  const out = path.join(dir, 'p.json');
  const r = cli(['trace', 'export', '--format', 'perfetto', file, '-o', out]);
  t.equal(r.status, 0, r.stderr);
  t.same(fs.readdirSync(dir).sort(), ['p.json', 'p.jsonl.gz'], 'no temp file left');
  const doc = JSON.parse(fs.readFileSync(out, 'utf8')) as { traceEvents: TraceEvent[]; displayTimeUnit: string };
  t.equal(doc.displayTimeUnit, 'ms');
  t.ok(Array.isArray(doc.traceEvents));
  const bad = doc.traceEvents.filter(
    (e) =>
      typeof e.ph !== 'string' ||
      typeof e.ts !== 'number' ||
      !Number.isFinite(e.ts) ||
      !Number.isInteger(e.pid) ||
      (e.tid !== undefined && !Number.isInteger(e.tid)) ||
      (e.ph === 'X' && (typeof e.dur !== 'number' || e.dur < 0)) ||
      (e.ph === 'M' && !['process_name', 'thread_name', 'thread_sort_index'].includes(e.name)) ||
      (e.ph === 'M' && e.name !== 'thread_sort_index' && typeof e.args?.name !== 'string') ||
      (e.ph === 'C' && !Object.values(e.args ?? {}).every((v) => typeof v === 'number')) ||
      (e.ph === 'i' && !['t', 'p', 'g'].includes(e.s ?? '')) ||
      typeof e.name !== 'string',
  );
  t.same(bad, [], 'every event has ph, a numeric ts, int pid/tid; X a dur >= 0; M a name; C numbers');
  // Slices on one track nest properly: sorted by start, each starts at or after the end of the one before, or inside it.
  const tracks = new Map<string, TraceEvent[]>();
  for (const e of doc.traceEvents.filter((e) => e.ph === 'X')) {
    const k = `${e.pid}/${e.tid}`;
    tracks.set(k, [...(tracks.get(k) ?? []), e]);
  }
  let overlaps = 0;
  for (const slices of tracks.values()) {
    slices.sort((a, b) => a.ts - b.ts || b.dur! - a.dur!);
    const open: number[] = [];
    for (const s of slices) {
      while (open.length && open[open.length - 1]! <= s.ts) open.pop();
      if (open.length && s.ts + s.dur! > open[open.length - 1]!) overlaps++;
      open.push(s.ts + s.dur!);
    }
  }
  t.equal(overlaps, 0, 'no slice ends outside the one it starts in');
  const stages = doc.traceEvents.filter((e) => e.ph === 'X' && e.cat === 'stage').map((e) => e.name);
  t.same(stages, header().stages, 'one slice per stage, in order');
  t.same(
    doc.traceEvents.filter((e) => e.cat === 'pause').map((e) => e.name),
    ['paused before ns-uts', 'paused before exec'],
    'pauses are slices of their own',
  );
  const syscalls = doc.traceEvents.filter((e) => e.cat === 'syscall');
  t.equal(syscalls.length, 15 * 48, 'one slice per syscall');
  const open = syscalls.find((e) => e.name === 'openat' && (e.args as { err?: string }).err);
  t.match(open?.args, { args: 'AT_FDCWD, "/usr/lib/locale/locale-archive", O_RDONLY|O_CLOEXEC', ret: -1, err: 'ENOENT', stage: 'running' });
  t.ok(syscalls.every((e) => e.pid !== undefined && e.tid !== undefined && e.ts >= 0));
  const names = doc.traceEvents.filter((e) => e.ph === 'M' && e.name === 'process_name').map((e) => e.args!.name);
  t.ok(names.includes('glassbox') && names.includes('cat'), 'processes named from their execve');
  t.ok(doc.traceEvents.some((e) => e.ph === 'M' && e.name === 'thread_name' && e.args!.name === 'cat'));
  const counters = doc.traceEvents.filter((e) => e.ph === 'C');
  t.same(counters.map((c) => [c.name, c.args]).slice(0, 2), [['memory.limit_in_bytes', { value: 67108864 }], ['pids.current', { value: 3 }]], 'numeric cgroup values become counters, "max" does not');
  t.equal((await collect(perfettoJson(events))).length, fs.statSync(out).size, 'stdout and -o write the same text');
});

/** strace -f -tt -T's line, with -o (pid first) or on a terminal ([pid N]). */
const STRACE_LINE = /^(?:\[pid +\d+\] |\d+ +)?\d\d:\d\d:\d\d\.\d{6} [a-z_0-9]+\(.*\) += (?:-?\d+|0x[0-9a-f]+|\?)(?: E[A-Z0-9_]+(?: \([^()]*\))?)?(?: <\d+\.\d{6}>)?$/;

t.test("the strace export's lines have the form strace's own lines have", async (t) => {
  const dir = tmpdir(t, 'trace-strace');
  const real = path.join(dir, 'real.txt');
  const s = spawnSync('strace', ['-f', '-tt', '-T', '-o', real, '/bin/busybox', 'true']);
  t.equal(s.status, 0, 'strace ran');
  const realLines = fs.readFileSync(real, 'utf8').trim().split('\n').filter((l) => !/ (\+\+\+|---) /.test(l));
  t.ok(realLines.length > 5);
  t.same(realLines.filter((l) => !STRACE_LINE.test(l)), [], "every line of strace's own output matches the pattern");

  const events = runStream({ iterations: 3 });
  const file = path.join(dir, 't.jsonl');
  await record(file, events);
  const r = cli(['trace', 'export', '--format', 'strace', file]);
  t.equal(r.status, 0, r.stderr);
  const ours = r.stdout.trim().split('\n');
  t.equal(r.stdout, await collect(straceText(events)));
  const calls = ours.filter((l) => !l.includes(' +++ '));
  t.equal(calls.length, 3 * 48, 'one line per syscall');
  t.same(calls.filter((l) => !STRACE_LINE.test(l)), [], 'every line of ours matches it too');
  t.match(ours[0], /^\[pid 48211\] \d\d:\d\d:\d\d\.\d{6} clone\(child_stack=NULL, /, 'strace -f prefix, [pid N]');
  t.ok(ours.some((l) => /^\[pid +\d+\] \S+ openat\(AT_FDCWD, "\/usr\/lib\/locale\/locale-archive", O_RDONLY\|O_CLOEXEC\) = -1 ENOENT \(No such file or directory\) <0\.\d{6}>$/.test(l)), 'errors with errno and text');
  t.ok(ours.some((l) => /^\[pid +\d+\] \S+ brk\(NULL\) {3,}= 0x[0-9a-f]+ <0\.\d{6}>$/.test(l)), 'addresses in hex, " = " in strace\'s column');
  t.ok(ours.some((l) => /^\[pid +\d+\] \S+ exit_group\(0\) += \?$/.test(l)), 'a call that never returned: = ?, no duration');
  t.ok(ours.some((l) => /^\[pid +\d+\] \S+ \+\+\+ exited with 0 \+\+\+$/.test(l)), 'and the exit strace prints after it');
  const brk = ours.find((l) => l.includes(' brk(NULL) '))!;
  t.equal(brk.indexOf('= 0x'), 40, 'the result starts at column 40, as strace aligns it');
});

/** Run the CLI with stdout and stderr in one pipe (in the order written), typing answers at each pause. */
function replayTyping(args: string[], answers: string[], o: { uid?: boolean } = {}): Promise<{ code: number | null; out: string; pauses: number }> {
  const cmd = [process.execPath, BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  // tap's process hooks put themselves in NODE_OPTIONS of every child; they would write to root's .tap/.
  const sh = `unset NODE_OPTIONS; exec ${cmd} 2>&1`;
  const argv = o.uid ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', 'sh', '-c', sh] : ['sh', '-c', sh];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'], env: plainEnv() });
  let out = '';
  let pauses = 0;
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    const prompts = out.split('run to the end > ').length - 1;
    while (pauses < prompts) {
      pauses++;
      const a = answers.shift();
      if (a === undefined) child.stdin.end();
      else child.stdin.write(`${a}\n`);
    }
  });
  if (!answers.length) child.stdin.end();
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out, pauses })));
}

t.test('replay --step pauses before each stage and goes on at Enter; c runs to the end', async (t) => {
  const dir = tmpdir(t, 'trace-step');
  const file = path.join(dir, 'r.jsonl.gz');
  await record(file, runStream({ iterations: 2, exitCode: 3 }));
  const r = await replayTyping(['replay', '--step', file], ['', '', 'c']);
  t.equal(r.code, 3, 'the recorded exit code');
  t.equal(r.pauses, 3, 'three pauses: two Enters, then c');
  const lines = r.out.split('\n');
  t.match(lines[0], /^paused before pull: what pull does$/, 'before pull, what it is about to do');
  t.match(lines[1], /^ {2}Enter: next stage, c then Enter: run to the end > ✓ pull /, 'the keys, then the stage runs');
  t.match(r.out, /paused before create: what create does \(glassbox inspect\|shell\|resume 4f1c2d3e5a6b\)\n/, 'with the container id once there is one');
  t.ok(r.out.indexOf('✓ pull') < r.out.indexOf('paused before create') && r.out.indexOf('paused before create') < r.out.indexOf('✓ create'), 'each pause between the stage before and its own');
  t.ok(r.out.indexOf('paused before spawn') < r.out.indexOf('✓ spawn'));
  t.notMatch(r.out, /paused before cgroup/, 'after c, no more pauses');
  const output = r.out.indexOf('glassbox-7f3a\nglassbox-7f3a\n');
  t.ok(output > r.out.indexOf('✓ exec') && output < r.out.indexOf('✓ running'), "the program's output while it runs");
});

t.test('replay --break pauses only there, and the end of input runs to the end', async (t) => {
  const dir = tmpdir(t, 'trace-break');
  const file = path.join(dir, 'r.jsonl');
  await record(file, runStream({ iterations: 2 }));
  const r = await replayTyping(['replay', '--break', 'exec,running', file], ['']);
  t.equal(r.code, 0);
  t.equal(r.pauses, 2, 'exec and running');
  t.ok(r.out.indexOf('✓ security') < r.out.indexOf('paused before exec') && r.out.indexOf('paused before running') < r.out.indexOf('glassbox-7f3a'), 'output after the pause before running');
  const ended = await replayTyping(['replay', '--break', 'exec,running', file], []);
  t.equal(ended.pauses, 1, 'stdin closed: the first pause goes on, and no other');
  t.match(ended.out, /✓ running/);
  const unknown = cli(['replay', '--break', 'ns-time', file]);
  t.equal(unknown.status, 1);
  t.match(unknown.stderr, /^glassbox: replay: unknown stage "ns-time"; this recording's stages: pull, create, /);
});

t.test('replay prints the stage lines and the recorded output, like the live run', async (t) => {
  const dir = tmpdir(t, 'trace-plain');
  const file = path.join(dir, 'r.jsonl.gz');
  await record(file, runStream({ iterations: 2, exitCode: 5 }));
  const r = cli(['replay', file]);
  t.equal(r.status, 5);
  t.equal(r.stdout, 'glassbox-7f3a\nglassbox-7f3a\n', 'the program output on stdout');
  // The image was in the store: nothing pulled, nothing said of a pull, as docker run.
  t.match(r.stderr, /^✓ pull +\d+ ms\n✓ create +\d+ ms\n/);
  t.notMatch(r.stderr, /Pulling|Status:/);
  t.equal(cli(['replay', '-q', file]).stderr, '', '-q: no stage lines');
  const failed = path.join(dir, 'failed.jsonl');
  await record(failed, runStream({ failAt: 'rootfs' }));
  const f = cli(['replay', failed]);
  t.equal(f.status, 1);
  t.match(f.stderr, /✗ rootfs\nglassbox: rootfs: mount proc to \/proc: Operation not permitted\n$/, 'a failed run ends with the line it printed');
  const cut = path.join(dir, 'cut.jsonl');
  fs.writeFileSync(cut, jsonl(runStream({ iterations: 1 }).slice(0, 12)));
  const c = cli(['replay', cut]);
  t.equal(c.status, 1);
  t.match(c.stderr, new RegExp(`glassbox: replay ${cut}: the recording ends before the program did`));
});

t.test("replay without a file plays the package's first recording, or says there is none", async (t) => {
  const shipped = packagedTraces();
  t.ok(shipped.every((f) => /\.jsonl(\.gz)?$/.test(f)), 'only .jsonl and .jsonl.gz files count');
  t.same(shipped, [...shipped].sort(), 'by name');
  const r = cli(['replay', '-q']);
  if (shipped.length === 0) {
    t.equal(r.status, 1);
    t.equal(r.stderr, `glassbox: replay: no recordings in ${path.join(repoRoot(), 'traces')}: name a trace file (glassbox run --record FILE makes one)\n`);
  } else {
    const first = await readAll(shipped[0]!);
    t.notOk(first.error, `${shipped[0]} reads`);
    const exit = first.events.find((e) => e.kind === 'exit');
    if (exit?.kind === 'exit') t.equal(r.status, exit.code, 'its recorded exit code');
  }
});

t.test('replay needs no root: user nobody replays a world-readable copy', async (t) => {
  const dir = tmpdir(t, 'trace-nobody');
  fs.chmodSync(dir, 0o755);
  const file = path.join(dir, 'r.jsonl.gz');
  await record(file, runStream({ iterations: 2, exitCode: 4 }));
  const r = await replayTyping(['replay', '--step', file], ['c']);
  t.equal(r.code, 4, r.out);
  t.equal(r.pauses, 1);
  t.match(r.out, /glassbox-7f3a\n/);
  t.match(r.out, /✓ running/);
  reachableByNobody(t, repoRoot());
  const who = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'id', '-u'], { encoding: 'utf8' });
  t.equal(who.stdout.trim(), '65534', 'setpriv drops to nobody');
  const asNobody = await replayTyping(['replay', '--step', file], ['c'], { uid: true });
  t.equal(asNobody.code, 4, asNobody.out);
  t.equal(asNobody.out, r.out, 'the same as root sees');
});

t.test('export -o leaves nothing behind when the trace is broken', async (t) => {
  const dir = tmpdir(t, 'trace-export-fail');
  const file = path.join(dir, 'bad.jsonl');
  fs.writeFileSync(file, jsonl(runStream({ iterations: 1 }).slice(0, 20)) + 'oops\n');
  for (const format of ['perfetto', 'strace']) {
    const out = path.join(dir, `out.${format}`);
    const r = cli(['trace', 'export', '--format', format, file, '-o', out]);
    t.equal(r.status, 1);
    t.equal(r.stderr, `glassbox: trace ${file}: line 21: not JSON (Unexpected token 'o', "oops" is not valid JSON)\n`);
    t.same(fs.readdirSync(dir), ['bad.jsonl'], `${format}: no output, no temp file`);
  }
  const r = cli(['trace', 'export', '--format', 'strace', file, '-o', path.join(dir, 'nodir', 'x.txt')]);
  t.equal(r.status, 1);
  t.match(r.stderr, /^glassbox: export .*x\.txt: no directory /);
});

t.test('a million syscalls read back streaming, in bounded memory', async (t) => {
  const dir = tmpdir(t, 'trace-million');
  const file = path.join(dir, 'm.jsonl.gz');
  const r = await openRecorder(file);
  r.sink(header());
  let n = 0;
  let backlog = 0;
  for (const e of catLoop({ iterations: 21000 })) {
    r.sink(e);
    n++;
    if (n % 50000 === 0) {
      backlog = Math.max(backlog, r.backlog());
      await r.flush();
    }
  }
  await r.close();
  t.ok(n >= 1_000_000, `${n} syscalls`);
  t.ok(backlog < 32e6, `the recorder held at most ${(backlog / 1e6).toFixed(1)} MB`);
  // About 190 MB of JSON: read in a process whose heap could not hold a tenth of it.
  const script = `
    import { readTrace } from ${JSON.stringify(pathToFileURL(path.resolve(here, '../src/trace/read.js')).href)};
    let n = 0;
    for await (const e of readTrace(${JSON.stringify(file)})) if (e.kind === 'syscall') n++;
    process.stdout.write(String(n));
  `;
  const c = spawnSync(process.execPath, ['--max-old-space-size=16', '--input-type=module', '-e', script], { encoding: 'utf8' });
  t.equal(c.status, 0, c.stderr);
  t.equal(Number(c.stdout), n, 'every one read back, with a 16 MB heap');
  t.comment(`${n} syscalls, ${fs.statSync(file).size} bytes gzipped`);
});
