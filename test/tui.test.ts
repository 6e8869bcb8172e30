// The TUI: its model folded from event streams (stage states, syscall counts,
// namespaces, cgroup, overlay, lesson placeholders), the replay player's
// seeks, the layout at every size; then the real thing in tmux: a replay
// stepped, moved back and forth, resized to 80x24 and quit; NO_COLOR; a live
// run stepped with breakpoints and a shell; a 200,000-syscall trace. How fast
// and how big are bench/tui.ts's to say, never a test's.
import * as fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';
import { gzipSync } from 'node:zlib';
import t from 'tap';
import type { GlassboxEvent, Snapshot, SyscallEvent } from '../src/events/schema.js';
import { fillPlaceholders, LessonCache, placeholdersIn, renderLesson } from '../src/tui/lesson.js';
import { matcher, Model, parseFilter, StreamView } from '../src/tui/model.js';
import { callFit } from '../src/tui/panes/syscalls.js';
import { Player, Timeline } from '../src/tui/replay.js';
import { linesBatch, loadInWorker } from '../src/tui/load.js';
import { readTrace } from '../src/trace/read.js';
import { openRecorder } from '../src/trace/record.js';
import { computeLayout, type Rect } from '../src/tui/screen.js';
import { PANES } from '../src/tui/state.js';
import { makeTheme } from '../src/tui/theme.js';
import { replayTui, startTui } from '../src/tui/index.js';
import { packageRoot } from '../src/util/paths.js';
import { Tmux, WAIT_MS } from './lib/tmux.js';
import { DIFF, demoRun, drawnText, ID, ROOT, STAGES, writeJsonl } from './lib/tuiplay.js';

const LESSONS = path.join(packageRoot(), 'lessons');
// The script beside this compiled test, wherever it was compiled to.
const play = fileURLToPath(new URL('./lib/tuiplay.js', import.meta.url));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'glassbox-tui-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** The demo run's events up to (not including) the pause before `stage`, or all. */
function until(stage?: string, o: Parameters<typeof demoRun>[0] = { step: true }): GlassboxEvent[] {
  const out: GlassboxEvent[] = [];
  for (const e of demoRun(o)) {
    if (stage && e.kind === 'stage' && e.stage === stage && e.phase === 'resumed') break;
    out.push(e);
  }
  return out;
}

function fold(events: Iterable<GlassboxEvent>, m = new Model(STAGES)): Model {
  for (const e of events) m.apply(e);
  return m;
}

const sys = (stage: string, name: string, ret: number | null, err?: string, args: string[] = []): SyscallEvent => ({ kind: 'syscall', t: 1, pid: 7, tid: 7, stage, nr: 0, name, args, ret, dur: 5, ...(err ? { err } : {}) });

t.test('model: stage states follow the phases, with durations and errors', async (t) => {
  const m = new Model(['a', 'b', 'c', 'd']);
  m.apply({ kind: 'stage', t: 100, stage: 'a', phase: 'paused', about: 'do a' });
  t.equal(m.stage('a')!.state, 'paused');
  t.same(m.pause, { stage: 'a', about: 'do a', id: undefined });
  m.apply({ kind: 'stage', t: 200, stage: 'a', phase: 'resumed' });
  t.equal(m.pause, undefined, 'resumed ends the pause');
  m.apply({ kind: 'stage', t: 200, stage: 'a', phase: 'begin' });
  t.equal(m.stage('a')!.state, 'running');
  m.apply({ kind: 'stage', t: 212, stage: 'a', phase: 'end' });
  t.equal(m.stage('a')!.state, 'done');
  t.equal(m.stage('a')!.end! - m.stage('a')!.begin!, 12, 'duration from begin to end');
  m.apply({ kind: 'stage', t: 220, stage: 'b', phase: 'begin' });
  m.apply({ kind: 'stage', t: 230, stage: 'b', phase: 'failed', error: 'mount: EPERM' });
  t.equal(m.stage('b')!.state, 'failed');
  t.equal(m.stage('b')!.error, 'mount: EPERM');
  m.apply({ kind: 'stage', t: 240, stage: 'a', phase: 'undone' });
  t.equal(m.stage('a')!.state, 'undone');
  t.equal(m.stage('c')!.state, 'waiting');
  m.apply({ kind: 'stage', t: 250, stage: 'zz', phase: 'begin' });
  t.equal(m.stages[m.stages.length - 1]!.id, 'zz', 'a stage the list did not know is added, not dropped');
});

t.test('model: syscalls are counted per stage; the ring keeps the last 5000 lines', async (t) => {
  const m = new Model(['a', 'b']);
  for (let i = 0; i < 6000; i++) m.apply(sys('a', 'read', 3));
  for (let i = 0; i < 3; i++) m.apply(sys('b', 'openat', -1, 'ENOENT', ['AT_FDCWD', '"/x"', 'O_RDONLY']));
  m.apply(sys('b', 'exit_group', null, undefined, ['0']));
  t.equal(m.syscallCount('a'), 6000);
  t.equal(m.syscallCount('b'), 4);
  t.equal(m.syscalls, 6004);
  t.equal(m.log.total, 6004);
  t.equal(m.log.first, 1004, 'only the last 5000 lines are kept');
  t.equal(m.log.text(6000), 'openat(AT_FDCWD, "/x", O_RDONLY) = -1 ENOENT <0.000005>', "strace's form");
  t.equal(m.log.text(6003), 'exit_group(0) = ? <0.000005>', 'a call that never returned');
  m.apply({ kind: 'output', t: 2, stream: 'stdout', data: 'one\ntwo\n' });
  t.equal(m.log.total, 6006, 'program output is two lines of the stream');
  t.equal(m.syscalls, 6004, 'and no syscall');
});

t.test('model: filters by name, stage, errors and text; the view follows new lines', async (t) => {
  const m = new Model(['a', 'b']);
  const f = parseFilter('openat stage:b /etc', ['a', 'b'], ['read', 'openat']);
  t.same(f, { names: ['openat'], stages: ['b'], text: '/etc' });
  t.same(parseFilter('err a', ['a'], []), { errorsOnly: true, stages: ['a'] });
  const view = new StreamView(100);
  const brute = (flt: typeof f) => {
    const match = matcher(m.log, flt);
    const all: number[] = [];
    for (let i = m.log.first; i < m.visible; i++) if (match(i)) all.push(i);
    return all.slice(-100);
  };
  const feed = (n: number) => {
    for (let i = 0; i < n; i++) {
      const st = i % 3 ? 'a' : 'b';
      m.apply(i % 5 ? sys(st, 'read', 1, undefined, ['3', `"/etc/${i}"`]) : sys(st, 'openat', -1, 'ENOENT', ['AT_FDCWD', `"/etc/${i}"`]));
    }
  };
  for (const flt of [f, { errorsOnly: true }, { names: ['read'] }, { text: 'ETC/1' }, {}]) {
    feed(150);
    t.same(view.lines(m.log, m.visible, flt), brute(flt), `filter ${JSON.stringify(flt)}`);
    feed(7000);
    t.same(view.lines(m.log, m.visible, flt), brute(flt), `and after the ring turned over`);
  }
});

t.test('model: the namespaces a stage made are attributed to it, from the snapshots', async (t) => {
  const m = fold(until('ns-ipc'));
  const uts = m.namespaces.find((n) => n.type === 'uts')!;
  t.equal(uts.container, 'uts:[4026532178]');
  t.ok(uts.changed);
  t.equal(uts.by, 'ns-uts', 'the uts namespace is ns-uts\'s doing');
  t.equal(m.namespaces.find((n) => n.type === 'mnt')!.by, 'ns-mnt');
  t.notOk(m.namespaces.find((n) => n.type === 'ipc')!.changed, 'ipc not yet: its stage is the one paused at');
  t.notOk(m.namespaces.find((n) => n.type === 'user')!.changed);
  const all = fold(until());
  t.same(
    all.namespaces.filter((n) => n.changed).map((n) => `${n.type}:${n.by}`),
    ['cgroup:ns-cgroup', 'ipc:ns-ipc', 'mnt:ns-mnt', 'net:ns-net', 'pid:ns-pid', 'pid_for_children:ns-pid', 'uts:ns-uts'],
  );
});

t.test('model: cgroup limits, usage and the directory, v1 and v2', async (t) => {
  const m = fold(until('ns-mnt'));
  t.same(m.cgroup.limits, { memory: 67108864, cpu: 0.5, pids: 50 });
  t.equal(m.cgroup.dir, `/sys/fs/cgroup/memory/glassbox-bd34cf1a/${ID}`);
  t.equal(m.cgroup.series[m.cgroup.series.length - 1]!.pids, 1, 'without pids.current, the processes seen');
  const v2 = new Model([]);
  const snap = (usage: number, mem: string): Snapshot => ({
    id: ID,
    stage: 'running',
    pid: 9,
    namespaces: [],
    mountinfo: [],
    interfaces: [],
    processes: [{ pid: 9, comm: 'sh' }],
    cgroup: [
      { path: '/sys/fs/cgroup/glassbox/x/memory.max', written: '1048576', why: '' },
      { path: '/sys/fs/cgroup/glassbox/x/cpu.max', written: '25000 100000', why: '' },
      { path: '/sys/fs/cgroup/glassbox/x/pids.max', written: 'max', why: '' },
      { path: '/sys/fs/cgroup/glassbox/x/memory.current', written: '', now: mem, why: 'usage' },
      { path: '/sys/fs/cgroup/glassbox/x/cpu.stat', written: '', now: `usage_usec ${usage}\nuser_usec 1`, why: 'usage' },
    ],
  });
  v2.apply({ kind: 'snapshot', t: 1000, snapshot: snap(0, '4096') });
  v2.apply({ kind: 'snapshot', t: 2000, snapshot: snap(250_000, '8192') });
  t.same(v2.cgroup.limits, { memory: 1048576, cpu: 0.25, pids: undefined }, 'pids.max "max" is no limit');
  const last = v2.cgroup.series[1]!;
  t.equal(last.memory, 8192);
  t.equal(last.cpu, 0.25, 'a quarter of a CPU over the second between snapshots');
  t.equal(v2.cgroup.dir, '/sys/fs/cgroup/glassbox/x');
});

t.test('model: layers with their progress and unpack counts; the overlay from mountinfo', async (t) => {
  const m = fold(until('pivot_root'));
  const [layer] = m.layerRows();
  t.equal(layer!.state, 'done');
  t.equal(layer!.bytes, 399388);
  t.equal(layer!.unpacked!.stats.files, 3);
  t.same(m.overlay!.lower, [`${ROOT}/layers/sha256/${DIFF}/diff`]);
  t.equal(m.overlay!.upper, `${ROOT}/containers/${ID}/upper`);
  t.equal(m.root, ROOT);
  const mid = fold(until('create'));
  t.same(mid.layerRows().length, 1);
  const progress = new Model([]);
  progress.apply({ kind: 'host', t: 1, detail: { what: 'layer', digest: 'sha256:aa', diffId: 'sha256:bb', size: 1000, bytes: 250, state: 'downloading' } });
  t.equal(progress.layerRows()[0]!.bytes, 250, 'a layer half-way is shown half-way');
});

t.test('lessons: placeholders are filled from the run, the others stay and say when they come', async (t) => {
  t.same(placeholdersIn('a {{pid}} b {{id}} {{pid}}'), ['pid', 'id']);
  t.equal(fillPlaceholders('ps -p {{pid}} {{nope}}', { pid: '42' }, false), 'ps -p 42 {{nope}}');
  const before = fold(until('cgroup')).placeholders();
  t.equal(before.pid, '6932', 'the helper, at the pause before cgroup');
  t.equal(before.id, ID.slice(0, 12));
  t.equal(before.cgroup, undefined, 'no cgroup directory before the cgroup stage');
  const v = fold(until('running')).placeholders();
  t.same(v, {
    id: ID.slice(0, 12),
    pid: '6933',
    cgroup: `/sys/fs/cgroup/memory/glassbox-bd34cf1a/${ID}`,
    root: ROOT,
    merged: `${ROOT}/containers/${ID}/merged`,
    layerDir: `${ROOT}/layers/sha256/${DIFF}/diff`,
    registry: 'docker.io',
    repository: 'glassbox/demo',
    tag: 'latest',
    manifestDigest: 'sha256:25605e2d117f035cd935da26bc1c75d2f2f132ea09f36bb27c3ad691407f5e03',
  });
  const theme = makeTheme(false);
  const cache = new LessonCache(LESSONS, theme);
  const running = cache.render('running', v, 80);
  running.text = stripVTControlCharacters(running.text);
  t.match(running.title, /running/);
  t.match(running.text, `cat /sys/fs/cgroup/memory/glassbox-bd34cf1a/${ID}/cgroup.procs`, 'the cgroup path is in the lesson');
  t.notMatch(running.text, /\{\{(pid|cgroup|id)\}\}/);
  const pivot = cache.render('pivot_root', v, 100);
  t.match(stripVTControlCharacters(pivot.text), `nsenter -t 6933 -m ls ${ROOT}/containers/${ID}/merged`);
  const pull = cache.render('pull', {}, 80);
  t.match(pull.text, '{{registry}}', 'an unknown value stays as its placeholder');
  t.same(pull.missing.slice(0, 3), ['registry', 'repository', 'tag']);
  t.equal(cache.render('no-such-stage', {}, 80).title, 'no-such-stage', 'a stage with no lesson says so, and does not throw');
  // Every lesson renders at the narrowest width with nothing known.
  for (const f of fs.readdirSync(LESSONS).filter((f) => f.endsWith('.md'))) {
    const text = renderLesson(fs.readFileSync(path.join(LESSONS, f), 'utf8'), {}, 20, makeTheme(true));
    t.ok(text.length > 100, `${f} renders`);
  }
});

t.test('syscall lines cut to width keep their result', async (t) => {
  const line = 'mount("overlay", "/var/lib/glassbox/containers/abc/merged", "overlay", 0, "lowerdir=...") = 0 <0.000012>';
  t.equal(callFit(line, 200), line);
  const cut = callFit(line, 40);
  t.equal(cut.length, 40);
  t.match(cut, /^mount\("overlay", .*…\) = 0$/);
  t.match(callFit('openat(AT_FDCWD, "/a/very/long/path/name", O_RDONLY) = -1 ENOENT <0.000001>', 50), /…\) = -1 ENOENT$/);
});

t.test('layout: every size from 20x8 to 220x70 fits, without overlap, every pane reachable', async (t) => {
  const overlap = (a: Rect, b: Rect) => a.left < b.left + b.width && b.left < a.left + a.width && a.top < b.top + b.height && b.top < a.top + a.height;
  let checked = 0;
  for (let cols = 20; cols <= 220; cols += 7) {
    for (let rows = 8; rows <= 70; rows += 3) {
      for (const shown of PANES) {
        const l = computeLayout(cols, rows, shown);
        const rects: Rect[] = [l.header, l.status, ...(l.tabBar ? [l.tabBar] : []), ...Object.values(l.rects)];
        for (const r of rects) {
          if (r.left < 0 || r.top < 0 || r.left + r.width > cols || r.top + r.height > rows || r.width < 1 || r.height < 1) t.fail(`${cols}x${rows}: ${JSON.stringify(r)} is off the screen`);
        }
        for (let i = 0; i < rects.length; i++) for (let j = i + 1; j < rects.length; j++) if (overlap(rects[i]!, rects[j]!)) t.fail(`${cols}x${rows} ${shown}: ${JSON.stringify(rects[i])} overlaps ${JSON.stringify(rects[j])}`);
        for (const p of PANES) if (!l.rects[p] && !l.tabs.includes(p)) t.fail(`${cols}x${rows}: ${p} cannot be reached`);
        checked++;
      }
    }
  }
  t.ok(checked > 1000, `${checked} layouts checked`);
  t.equal(computeLayout(80, 24, 'cgroup').kind, 'narrow');
  t.same(Object.keys(computeLayout(80, 24, 'cgroup').rects), ['cgroup'], 'at 80x24 one pane at a time, as a tab');
  t.equal(computeLayout(100, 30, 'lesson').kind, 'medium');
  t.equal(computeLayout(160, 45, 'lesson').kind, 'wide');
});

t.test('replay player: seeking anywhere gives the model a straight play would', async (t) => {
  const events = [...demoRun({ step: true, extra: 300 })];
  const tl = new Timeline();
  for (const e of events) tl.push(e);
  tl.loaded = true;
  t.equal(tl.recordedExit(), 0);
  t.same(
    tl.boundaries.map((b) => b.stage),
    STAGES,
    'one stop per stage',
  );
  t.ok(tl.boundaries.every((b) => b.kind === 'paused'), 'at the recorded pauses');
  const snapAt = tl.boundaries.find((b) => b.stage === 'ns-uts')!.pos - 1;
  t.equal(events[snapAt]!.kind, 'snapshot', 'a stop after a pause comes after its snapshot');
  const summary = (m: Model) => JSON.stringify([m.stages, m.syscalls, m.namespaces, m.pause, m.visible, m.overlay, m.cgroup.limits, m.placeholders()]);
  const p = new Player(tl, [], () => new Set());
  for (const at of [700, 40, 0, events.length, 355, 356, 10]) {
    p.seek(at);
    const straight = fold(events.slice(0, at), new Model([]));
    const m = p.model;
    t.equal(m.syscalls, straight.syscalls, `syscalls at ${at}`);
    t.equal(summary(m), summary(straight.visible === m.visible ? straight : Object.assign(straight, { visible: m.visible })), `the same model at event ${at}`);
  }
  // Stepping: from the start, each step stops at the next stage's pause.
  const q = new Player(tl, [], () => 'all');
  const stops: string[] = [];
  q.onStop = (b) => b && stops.push(b.stage);
  for (let i = 0; i < 5; i++) {
    q.play('step');
    for (let k = 0; k < 1000 && q.playing; k++) q.tick(100);
  }
  t.same(stops, ['pull', 'create', 'spawn', 'cgroup', 'ns-mnt']);
  t.equal(q.model.pause?.stage, 'ns-mnt');
  q.play('continue');
  for (let k = 0; k < 100_000 && q.playing; k++) q.tick(100);
  t.equal(q.pos, tl.length, 'continue plays to the end');
  t.equal(q.model.exit?.code, 0);
  t.equal(q.boundaryFrom(-1), tl.boundaries[tl.boundaries.length - 1]!.pos, '← from the end: the last stage');
  // No recorded pauses: a stop before a stage begins says paused before it.
  const plain = new Timeline();
  for (const e of demoRun({ step: false })) plain.push(e);
  const r = new Player(plain, [], () => new Set(['rootfs']));
  r.seek(0);
  r.play('play');
  for (let k = 0; k < 10_000 && r.playing; k++) r.tick(1000);
  t.equal(r.model.pause?.stage, 'rootfs', 'stopped before rootfs, at its breakpoint');
  t.equal(r.model.stage('rootfs')!.state, 'waiting');
  t.equal(r.model.stage('ns-pid')!.state, 'done');
});

t.test('live: a million syscall events fold into the model and through the sink to the screen', async (t) => {
  const m = new Model(STAGES);
  const e = sys('running', 'read', 10, undefined, ['0', '"line 1\\n"', '4096']);
  for (let i = 0; i < 1_000_000; i++) m.apply(e);
  t.equal(m.syscalls, 1_000_000, 'every one counted');
  t.equal(m.syscallCount('running'), 1_000_000, 'in its stage');
  t.equal(m.log.total, 1_000_000);
  t.equal(m.log.first, 1_000_000 - 5000, 'the ring kept the last 5000 lines');
  t.equal(m.log.text(999_999), 'read(0, "line 1\\n", 4096) = 10 <0.000005>');
  // The whole TUI, on a stream that is no terminal: the sink buffers, the screen redraws on its timer.
  const input = new PassThrough();
  const output = new Writable({ write: (_c, _e, cb) => cb() });
  Object.assign(output, { columns: 120, rows: 40, isTTY: true });
  const tui = startTui({ mode: 'live', stages: STAGES, input, output, lessonsDir: LESSONS });
  for (const ev of demoRun({ extra: 1_000_000 })) tui.sink(ev);
  let screen = '';
  for (const until = Date.now() + WAIT_MS; !/1\.0M syscalls/.test(screen) && Date.now() < until; await new Promise((r) => setTimeout(r, 50))) screen = drawnText(output) ?? '';
  t.match(screen, /exited 0 │ 1\.0M syscalls/, 'the header counts them, and the exit');
  t.match(screen, /✓ running\s.*1\.0M/, 'the running stage has them');
  t.match(screen, /out running\s+│ \[ns\] uts -> uts:\[4026532178\]/, "the program's output, last in the stream");
  t.same(tui.breakpoints(), new Set());
  tui.destroy();
});

// Once a bug: the loader set tl.loaded and only invalidated, while the header is drawn from what
// sync() copied; stopped at the first pause, "event 2/30.0k…" stayed until a key was pressed.

t.test('replay: once the whole trace is in, the header says so with no key pressed', async (t) => {
  const input = new PassThrough();
  const output = new Writable({ write: (_c, _e, cb) => cb() });
  Object.assign(output, { columns: 160, rows: 45, isTTY: true });
  let drained = false;
  async function* events() {
    // More than one batch of the loader (10,000), so the player reaches the first pause while it loads.
    for (const e of demoRun({ step: true, extra: 30_000, workload: 'server' })) yield e;
    drained = true;
  }
  const done = replayTui(events(), { input, output, lessonsDir: LESSONS });
  while (!drained) await new Promise((r) => setTimeout(r, 20));
  // A frame comes every 50 ms: 5 s is room for a loaded machine.
  let screen = '';
  for (const until = Date.now() + 5000; !/event \S+\/30\.3k(?!…)/.test(screen) && Date.now() < until; await new Promise((r) => setTimeout(r, 50))) screen = drawnText(output) ?? '';
  t.match(screen, /PAUSED before pull/, 'stopped at the first recorded pause');
  t.match(screen, /event \S+\/30\.3k(?!…)/, 'the whole length (30,300 events), without the … of a trace still loading');
  input.write('q');
  t.equal(await done, 0, 'q quits with the recorded exit code');
});

/** A timeline of the events pushed one by one, the way any stream is loaded. */
async function pushedOneByOne(file: string): Promise<Timeline> {
  const tl = new Timeline();
  for await (const e of readTrace(file)) tl.push(e);
  return tl;
}

/** A timeline as replayTui loads a trace file: batches from the worker thread, some parsed on this one; and the error it ended with. */
async function loadedByWorker(file: string): Promise<{ tl: Timeline; error?: string }> {
  const tl = new Timeline();
  try {
    for await (const b of loadInWorker(file)) tl.pushBatch(b);
  } catch (e) {
    return { tl, error: (e as Error).message };
  }
  return { tl };
}

/** Every line and event of two timelines the same, or the first difference. */
function sameTimeline(a: Timeline, b: Timeline): string | undefined {
  if (a.length !== b.length) return `length ${a.length} != ${b.length}`;
  if (a.log.total !== b.log.total) return `lines ${a.log.total} != ${b.log.total}`;
  for (let i = 0; i < a.log.total; i++) {
    const la = [a.log.text(i), a.log.t(i), a.log.pid(i), a.log.kind(i), a.log.names[a.log.name(i)], a.log.stageIds[a.log.stage(i)]];
    const lb = [b.log.text(i), b.log.t(i), b.log.pid(i), b.log.kind(i), b.log.names[b.log.name(i)], b.log.stageIds[b.log.stage(i)]];
    if (JSON.stringify(la) !== JSON.stringify(lb)) return `line ${i}: ${JSON.stringify(la)} != ${JSON.stringify(lb)}`;
  }
  if (JSON.stringify(a.sparse) !== JSON.stringify(b.sparse)) return 'the events that are not syscalls differ';
  if (JSON.stringify(a.boundaries) !== JSON.stringify(b.boundaries)) return 'the boundaries differ';
  if (a.recordedExit() !== b.recordedExit()) return 'the exit differs';
  return undefined;
}

t.test('replay: a trace file loaded on the worker thread is the timeline its events make one by one', async (t) => {
  // 150,000 syscalls: pieces handed to this thread, runs across the log's 65,536-line chunks, texts in many blocks.
  const events = [...demoRun({ step: true, extra: 150_000, workload: 'server' })];
  for (const name of ['big.jsonl', 'big.jsonl.gz']) {
    const file = path.join(tmp, name);
    const rec = await openRecorder(file);
    for (const e of events) rec.sink(e);
    await rec.close();
    const want = await pushedOneByOne(file);
    const got = await loadedByWorker(file);
    t.equal(got.error, undefined, `${name}: no error`);
    t.equal(got.tl.length, events.length, `${name}: every event`);
    t.equal(sameTimeline(got.tl, want), undefined, `${name}: every line, event and boundary the same`);
    // Reading a line far back and then the next, as a seek does.
    t.equal(got.tl.log.text(70_000), want.log.text(70_000));
    t.equal(got.tl.log.text(3), want.log.text(3));
  }
});

t.test('replay: a broken trace loaded on the worker thread stops at the same line, after the same events', async (t) => {
  const events = [...demoRun({ step: true, extra: 60_000, workload: 'server' })];
  const lines = events.map((e) => JSON.stringify(e));
  // Near the start (parsed by the worker), far in (in a piece likely handed over), and the last line cut.
  for (const [name, at, bad] of [
    ['early.jsonl', 40, '{"kind":"syscall","t":1,"pid":1}'],
    ['late.jsonl', 50_000, '{"kind":"syscall",'],
    ['late.jsonl.gz', 50_000, '{"kind":"telepathy","t":1}'],
  ] as const) {
    const file = path.join(tmp, name);
    const text = [...lines.slice(0, at), bad, ...lines.slice(at)].join('\n') + '\n';
    fs.writeFileSync(file, name.endsWith('.gz') ? gzipSync(text) : text);
    let readError: string | undefined;
    let before = 0;
    try {
      for await (const e of readTrace(file)) if (e) before++;
    } catch (e) {
      readError = (e as Error).message;
    }
    t.match(readError, new RegExp(`: line ${at + 1}: `), `${name}: the reader names line ${at + 1}`);
    const got = await loadedByWorker(file);
    t.equal(got.error, readError, `${name}: the same one-line error`);
    t.equal(got.tl.length, before, `${name}: after the same ${before} events`);
    const want = new Timeline();
    for (const e of events.slice(0, at)) want.push(e);
    t.equal(sameTimeline(got.tl, want), undefined, `${name}: and they are right`);
  }
  const cut = path.join(tmp, 'cut.jsonl');
  fs.writeFileSync(cut, lines.join('\n').slice(0, -10));
  const got = await loadedByWorker(cut);
  t.match(got.error, new RegExp(`: line ${lines.length}: the file ends in the middle of a line`), 'a last line cut short');
  t.equal(got.tl.length, lines.length - 1);
});

t.test('replay: a piece of lines handed to the TUI thread gives the events before a broken line, then its error', async (t) => {
  const events = [...demoRun({ extra: 50 })].slice(1, 21);
  const text = events.map((e) => JSON.stringify(e)).join('\n') + '\n{"kind":"syscall",\n' + JSON.stringify(events[0]) + '\n';
  const { batch, error } = linesBatch('p.jsonl', { kind: 'lines', bytes: new Uint8Array(Buffer.from(text)), first: 101 });
  t.equal(batch.count, 20, 'the 20 events before it');
  const tl = new Timeline();
  tl.pushBatch(batch);
  const want = new Timeline();
  for (const e of events) want.push(e);
  t.equal(sameTimeline(tl, want), undefined, 'and they are right');
  t.match((error as Error).message, /^trace p\.jsonl: line 121: not JSON \(/, 'the error names its line in the file');
});

t.test('live: onPause resolves on abort and on a resume from elsewhere, and q quits', async (t) => {
  const input = new PassThrough();
  const output = new Writable({ write: (_c, _e, cb) => cb() });
  Object.assign(output, { columns: 100, rows: 30, isTTY: true });
  const tui = startTui({ mode: 'live', stages: STAGES, breakpoints: 'all', input, output, lessonsDir: LESSONS });
  const ac = new AbortController();
  const p1 = tui.onPause('pull', 'look up', undefined, ac.signal);
  ac.abort();
  t.equal(await p1, 'step', 'an abort ends the pause');
  let resume!: () => void;
  const p2 = tui.onPause('create', 'make', undefined, undefined, new Promise<void>((r) => (resume = r)));
  resume();
  t.equal(await p2, 'step', 'glassbox resume from another terminal ends it');
  t.equal(tui.breakpoints(), 'all');
  let quit = false;
  void tui.quit.then(() => (quit = true));
  input.write('q');
  await tui.quit;
  t.ok(quit, 'q resolves quit');
  t.equal(await tui.onPause('spawn', 'x', undefined), 'step', 'after quit, a pause does not wait');
});

// ---- on a real terminal ---------------------------------------------------

const demoFile = path.join(tmp, 'demo.jsonl');
writeJsonl(demoFile, demoRun({ step: true, extra: 400 }));

t.test('tmux: a replay shows the pipeline, a lesson and syscalls; steps, moves back, resizes, quits', async (t) => {
  const tm = Tmux.start(t, `${process.execPath} ${play} replay ${demoFile}; echo STATUS=$?; sleep 60`, { label: 'tui-replay' });
  let s = await tm.waitFor(/PAUSED before pull/);
  t.match(s, /Stages 0\/16/, 'the stage pipeline');
  t.match(s, /‖ pull/, 'pull paused');
  t.match(s, /· ns-uts/, 'ns-uts waiting');
  t.match(s, /Lesson: Pull: fetching an image from a registry/, 'the lesson of the stage');
  for (let i = 0; i < 5; i++) {
    tm.keys('n');
    await tm.waitFor(new RegExp(`PAUSED before ${STAGES[i + 1]}\\b`));
  }
  s = await tm.settle();
  t.match(s, /PAUSED before ns-uts/);
  t.match(s, /✓ ns-mnt\s+\d+ms\s+1/, 'ns-mnt done, with its duration and its one syscall');
  t.match(s, /6932 ns-mnt\s+unshare\(CLONE_NEWNS\) = 0/, 'a decoded syscall line, with pid and stage');
  t.match(s, /Lesson: ns-uts: a hostname of its own/);
  tm.keys('Left');
  await tm.waitFor(/PAUSED before ns-mnt/);
  // The whole screen at that position, not a frame drawn half way on a busy machine.
  s = await tm.settle();
  t.match(s, /‖ ns-mnt/, 'back one stage');
  t.notMatch(s, /6932 ns-mnt\s+unshare/, 'the call of ns-mnt has not happened yet');
  tm.keys('Right', 'Right');
  s = await tm.waitFor(/PAUSED before ns-ipc/);
  t.match(s, /unshare\(CLONE_NEWUTS\) = 0/);
  tm.keys('4');
  s = await tm.waitFor(/Namespaces \(at ns-ipc/);
  t.match(s, /uts\s+4026531838\s+4026532178\s+ns-uts/, 'the namespaces pane: host and container inode, and the stage that made it');
  tm.resize(80, 24);
  s = await tm.settle();
  t.match(s, /1 Stages\s+2 Lesson\s+3 Syscalls\s+4 Namespaces\s+5 cgroup\s+6 Filesystem/, 'at 80x24 the panes are tabs');
  t.equal(s.split('\n').filter((l) => l.length).length, 24, 'the screen is redrawn at the new size');
  t.ok(s.split('\n').every((l) => l.length <= 80), 'nothing past the edge');
  tm.keys('Tab');
  s = await tm.waitFor(/┌─ cgroup/);
  t.match(s, /memory\s.*67\.1MB/, 'the cgroup tab: the memory limit');
  t.match(s, /pids\.max = 50/);
  tm.keys('6');
  s = await tm.waitFor(/Image & filesystem/);
  t.match(s, /ad6fd0af5303 unpacked/, 'the layer, pulled and unpacked');
  t.match(s, /3 files, 5 dirs/);
  tm.resize(100, 30);
  await tm.settle();
  tm.keys('q');
  s = await tm.waitFor(/STATUS=\d+/);
  t.match(s, /EXIT=0\nSTATUS=0/, 'q quits, with the recorded exit code');
  t.notMatch(s, /Stages|┌/, 'the terminal is back to the shell: the screen is gone');
});

t.test('tmux: the syscall filter, the jump to a stage, the speed keys and the end of the recording', async (t) => {
  const tm = Tmux.start(t, `${process.execPath} ${play} replay ${demoFile}; echo STATUS=$?; sleep 60`, { label: 'tui-filter', cols: 110, rows: 32 });
  await tm.waitFor(/PAUSED before pull/);
  tm.keys('c', '+', '+', '+', '+');
  let s = await tm.waitFor(/exited 0/);
  t.match(s, /×16/, 'c plays on, faster with +');
  s = await tm.waitFor(/↩ cgroup/);
  t.match(s, /↩ cgroup/, 'undone at teardown');
  tm.keys('/');
  await tm.waitFor(/filter \(names/);
  tm.type('err');
  tm.keys('Enter');
  s = await tm.waitFor(/filter: err/);
  const lines = s.split('\n').filter((l) => /^\s*│?.*│\s+\d{4} \S+\s+\w+\(/.test(l));
  t.ok(lines.length >= 3, 'error lines shown');
  t.ok(lines.every((l) => /= -1 E[A-Z]+/.test(l)), 'and only those');
  // Escape alone (a key right after it would read as Meta-key).
  tm.keys('Escape');
  await tm.waitFor(/Syscalls \d+ ─/);
  tm.keys('/');
  await tm.waitFor(/filter \(names/);
  tm.type('stage:ns-net');
  tm.keys('Enter');
  s = await tm.waitFor(/filter: stage:ns-net/);
  t.match(s, /socket\(AF_NETLINK/);
  t.notMatch(s, /unshare\(CLONE_NEWUTS/);
  tm.keys('1', 'Home');
  for (let i = 0; i < 9; i++) tm.keys('Down');
  await tm.waitFor(/ns-pid: done/);
  tm.keys('Enter');
  s = await tm.waitFor(/PAUSED before ns-pid/);
  t.match(s, /‖ ns-pid/, 'Enter on a stage jumps there');
  // The mouse: a click on a stage selects it; the wheel scrolls the stream, f follows again.
  tm.click(6, 8);
  s = await tm.waitFor(/ns-ipc: done/);
  t.match(s, /ns-ipc: done, 1 syscalls/, 'a click selected ns-ipc');
  tm.keys('Escape');
  s = await tm.waitFor(/Syscalls \d+ ─/);
  const sysTop = s.split('\n').findIndex((l) => l.includes('Syscalls'));
  tm.wheel(60, sysTop + 3, true);
  s = await tm.waitFor(/scroll paused, f: follow/);
  tm.keys('f');
  s = await tm.waitFor(/Syscalls \d+ ─/);
  t.notMatch(s, /scroll paused/, 'f follows again');
  const speed = Number(/×(\d+)/.exec(s)?.[1]);
  tm.keys('+', '+');
  s = await tm.waitFor(new RegExp(`×${speed * 4}\\b`));
  t.match(s, `×${speed * 4} `, '+ + : four times as fast');
  tm.keys('-');
  s = await tm.waitFor(new RegExp(`×${speed * 2}\\b`));
  t.match(s, `×${speed * 2} `, '-: half that');
  tm.keys('?');
  s = await tm.waitFor(/Keys \(any key closes\)/);
  t.match(s, /toggle a breakpoint/);
  tm.keys('x');
  s = await tm.settle();
  t.notMatch(s, /any key closes/);
  tm.keys('q');
  s = await tm.waitFor(/STATUS=\d+/);
  t.match(s, /STATUS=0/);
});

t.test('tmux: NO_COLOR=1 draws without colour', async (t) => {
  const tm = Tmux.start(t, `NO_COLOR=1 ${process.execPath} ${play} replay ${demoFile}; echo STATUS=$?; sleep 60`, { label: 'tui-nocolor' });
  await tm.waitFor(/PAUSED before pull/);
  // One n at a time: a second n while a step plays finishes that step, it does not take another.
  for (const next of ['create', 'spawn', 'cgroup']) {
    tm.keys('n');
    await tm.waitFor(new RegExp(`PAUSED before ${next}\\b`));
  }
  tm.keys('c', '+', '+', '+', '+');
  await tm.waitFor(/exited 0/);
  const s = tm.screen(true);
  // SGR parameters of colours: 30-37, 39, 40-47, 49, 90-97, 100-107, 38;5 / 48;5.
  const colours = [...s.matchAll(/\x1b\[([\d;]*)m/g)].map((m) => m[1]!.split(';').filter((p) => /^(3[0-8]|4[0-8]|9\d|10\d)$/.test(p))).flat();
  t.same(colours, [], 'no colour codes on the screen');
  t.match(s, /\x1b\[[\d;]*7[;m]/, 'inverse marks the selection instead');
  tm.keys('q');
  t.match(await tm.waitFor(/STATUS=\d+/), /STATUS=0/);
});

t.test('tmux: a live run steps stage by stage, s opens a shell, c runs to the end', async (t) => {
  const tm = Tmux.start(t, `${process.execPath} ${play} live ${demoFile} --step; echo STATUS=$?; sleep 60`, { label: 'tui-live' });
  let s = await tm.waitFor(/PAUSED before pull/);
  t.match(s, /glassbox run/);
  tm.keys('n');
  await tm.waitFor(/PAUSED before create/);
  tm.keys('space');
  await tm.waitFor(/PAUSED before spawn/);
  tm.keys('n');
  s = await tm.waitFor(/PAUSED before cgroup/);
  t.match(s, /7 syscalls/, "spawn's calls arrived");
  // A shell in the half-built container: the TUI steps aside, and comes back.
  tm.keys('s');
  s = await tm.waitFor(/SHELL IN [0-9a-f]{64}/);
  t.match(s, `SHELL IN ${ID}`, 'the shell is given the container id');
  t.notMatch(s, /Stages/, 'the TUI is suspended');
  tm.type('hello');
  tm.keys('Enter');
  s = await tm.waitFor(/PAUSED before cgroup/);
  t.match(s, /Stages 3\/16/, 'and back');
  // With --step every stage is a breakpoint; c drops them all and runs to the end.
  tm.keys('c');
  s = await tm.waitFor(/The program exited/);
  t.match(s, /The program exited with code 0/);
  t.match(s, /exited 0/);
  tm.keys('q');
  s = await tm.waitFor(/STATUS=\d+/);
  t.match(s, /EXIT=0\nSTATUS=0/, 'q quits, and the terminal is the shell again');
});

t.test('tmux: a live run stops at a breakpoint set with b', async (t) => {
  const tm = Tmux.start(t, `${process.execPath} ${play} live ${demoFile} --break ns-uts; echo STATUS=$?; sleep 60`, { label: 'tui-live-b' });
  let s = await tm.waitFor(/PAUSED before ns-uts/);
  t.match(s, /● ‖ ns-uts/, 'the breakpoint given on the command line');
  t.match(s, /✓ ns-mnt/);
  tm.keys('1');
  for (let i = 0; i < 4; i++) tm.keys('Down');
  await tm.waitFor(/ns-pid: waiting/);
  tm.keys('b');
  s = await tm.waitFor(/breakpoint on ns-pid/);
  t.match(s, /● · ns-pid/, 'marked in the pipeline');
  tm.keys('c');
  s = await tm.waitFor(/PAUSED before ns-pid/);
  t.match(s, /✓ ns-cgroup/, 'ran through the stages without breakpoints');
  t.match(s, /● ‖ ns-pid/, 'and stopped at the one set with b');
  tm.keys('c');
  await tm.waitFor(/The program exited/);
  tm.keys('q');
  t.match(await tm.waitFor(/STATUS=\d+/), /STATUS=0/);
});

t.test('tmux: a 200,000-syscall trace replays to its end, and g and G jump to either end', async (t) => {
  // The million, and how fast, are bench/tui.ts's.
  const big = path.join(tmp, 'big.jsonl');
  writeJsonl(big, demoRun({ step: true, extra: 200_000, workload: 'server' }));
  const tm = Tmux.start(t, `${process.execPath} ${play} replay ${big}; echo STATUS=$?; sleep 60`, { label: 'tui-big', cols: 160, rows: 45 });
  let s = await tm.waitFor(/PAUSED before pull/);
  t.match(s, /PAUSED before pull/, 'the first screen: stopped at the first recorded pause');
  tm.keys('c');
  for (let i = 0; i < 9; i++) tm.keys('+');
  s = await tm.waitFor(/exited 0/);
  t.match(s, /exited 0 │ 200k syscalls/, 'played to the end, every syscall counted');
  t.match(s, /✓ running\s.*200k/, 'in the running stage');
  t.match(s, /exit_group\(0\) = \?/, 'the last call in the stream');
  tm.keys('Left');
  s = await tm.waitFor(/PAUSED before running/);
  t.match(s, /PAUSED before running/, '← goes back a stage');
  tm.keys('g');
  s = await tm.waitFor(/event 0\//);
  t.match(s, /│ 0 syscalls │.*event 0\/201k/, 'g: the start, nothing happened yet');
  // G as typed (tmux's S-g is not what a terminal sends for it).
  tm.type('G');
  s = await tm.waitFor(/exited 0/);
  t.match(s, /exited 0 │ 200k syscalls │.*event 201k\/201k/, 'G: the end again');
  tm.keys('q');
  s = await tm.waitFor(/STATUS=\d+/);
  t.match(s, /EXIT=0\nSTATUS=0/);
});
