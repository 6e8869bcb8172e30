// The stage lessons, for real: every stage has lessons/<id>.md; every lesson
// (the overview ones too) renders through the TUI's renderer with a title and
// only placeholders the TUI knows; and every "Try it" command of every stage
// lesson runs at that stage's pause, with the values the TUI's lesson pane
// shows there (the --record trace folded into the TUI's own Model), checked
// against `glassbox inspect --json`. Then nothing is left of the runs. Needs
// root, as glassbox run does.
//
// Runs: one `glassbox run --plain --step` of the built-in demo serves every
// stage; the running lesson ("these work while it is still running") gets a
// second run with -t, where the demo waits at its prompt; the pull and create
// lessons get a run of an image pulled from a registry on 127.0.0.1, the only
// kind of run in which the TUI learns registry, repository, tag and the
// manifest digest. A placeholder the TUI cannot fill at a pause is a failure;
// the block still runs, with the value found otherwise (glassbox inspect, the
// store), so its commands are tried all the same. A command fails the test
// unless the lesson marks it as failing on purpose (test/lib/lessons.ts,
// expectedFailures); the message names the file, the line, the command and
// what it wrote to stderr.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';
import t, { type Test } from 'tap';
import type { GlassboxEvent, Snapshot } from '../src/events/schema.js';
import { ensureDemoImage } from '../src/image/demo.js';
import { Store } from '../src/image/store.js';
import { detectCgroups } from '../src/runtime/cgroup/index.js';
import { stageIds } from '../src/runtime/stages/index.js';
import { defaultLessonsDir, LessonCache, lessonTitle, placeholdersIn, renderLesson } from '../src/tui/lesson.js';
import { Model } from '../src/tui/model.js';
import { makeTheme } from '../src/tui/theme.js';
import { fixtureImages } from './lib/fixtures.js';
import { containerCgroups, shimPids, removeCgroupParent } from './lib/leftovers.js';
import { fill, KNOWN_PLACEHOLDERS, PausedRun, placeholdersOf, runBlock, tryItSection, valuesAtPause, type Block, type Pause } from './lib/lessons.js';
import { startRegistry, type Registry } from './lib/registry.js';

const BIN = fileURLToPath(new URL('../src/cli/bin.js', import.meta.url));
const DIR = defaultLessonsDir();
const isRoot = process.getuid?.() === 0;
const NO_COLOR = { ...process.env, FORCE_COLOR: '0' };
const KNOWN = new Set<string>(KNOWN_PLACEHOLDERS);
const ROOT_ONLY = { skip: isRoot ? false : 'glassbox run needs root' };

/**
 * Blocks not run, each with the reason. Matched on the block's text.
 * The pull lesson's Docker Hub block needs the internet and Docker Hub.
 */
const NOT_RUN: { stage: string; match: RegExp; why: string }[] = [
  { stage: 'pull', match: /registry-1\.docker\.io/, why: 'talks to Docker Hub over the internet' },
];

function lessonFile(id: string): string {
  return path.join(DIR, `${id}.md`);
}

function lessonMd(id: string): string {
  return fs.readFileSync(lessonFile(id), 'utf8');
}

/** Whitespace-blind, colour-blind: does the rendered lesson show this text (reflow and indent aside)? */
function shows(rendered: string, text: string): boolean {
  const squash = (s: string) => stripVTControlCharacters(s).replace(/\s+/g, '');
  return squash(rendered).includes(squash(text));
}

t.test('every stage has a lesson, every lesson renders with a title and only known placeholders', async (t) => {
  const ids = stageIds();
  for (const id of ids) t.ok(fs.existsSync(lessonFile(id)), `stage ${id} has lessons/${id}.md`);
  const files = fs
    .readdirSync(DIR)
    .filter((f) => f.endsWith('.md') && fs.statSync(path.join(DIR, f)).isFile())
    .map((f) => f.slice(0, -3))
    .sort();
  const overview = files.filter((f) => !ids.includes(f));
  t.comment(`overview lessons (no stage of that name): ${overview.join(', ')}`);
  t.ok(overview.length > 0, 'there are overview lessons besides the stage ones');
  const all: Record<string, string> = {
    id: '0123456789ab',
    pid: '424242',
    cgroup: '/sys/fs/cgroup/memory/glassbox-test/0123456789ab',
    root: '/var/lib/glassbox-test',
    merged: '/var/lib/glassbox-test/containers/0123456789ab/merged',
    layerDir: '/var/lib/glassbox-test/layers/sha256/abcd/diff',
    registry: '127.0.0.1:5000',
    repository: 'library/busybox',
    tag: 'latest',
    manifestDigest: 'sha256:feedface',
  };
  t.same(Object.keys(all).sort(), [...KNOWN].sort(), 'the values used here are the known set');
  for (const id of files) {
    const md = lessonMd(id);
    const title = lessonTitle(md, id);
    t.ok(/^#\s+\S/m.test(md) && title !== id && title.length > 0, `${id}: a title ("${title}")`);
    const used = placeholdersIn(md);
    const unknown = used.filter((n) => !KNOWN.has(n));
    t.same(unknown, [], `${id}: no placeholder outside the known set${unknown.length ? ` (unknown: ${unknown.map((n) => `{{${n}}}`).join(', ')})` : ''}`);
    // Nothing known yet, everything known; with and without colour; narrow and wide.
    for (const values of [{}, all]) {
      for (const color of [false, true]) {
        for (const width of [40, 100]) {
          let out = '';
          try {
            out = renderLesson(md, values, width, makeTheme(color));
          } catch (e) {
            t.fail(`${id}: renders at width ${width}, colour ${color}, ${Object.keys(values).length ? 'all values' : 'no values'}: threw ${(e as Error).stack}`);
            continue;
          }
          const plain = stripVTControlCharacters(out);
          if (!color && width === 100) {
            t.ok(shows(plain, title), `${id}: the title is in the rendered text`);
            if (values === all) {
              t.notMatch(plain, /\{\{\w+\}\}/, `${id}: every placeholder filled when every value is known`);
              t.notMatch(plain, /[\uE000-\uE003]/, `${id}: no value marker left in the text`);
              // What a student copies from the pane: every line of every Try it block, its values in.
              for (const b of tryItSection(md) ?? []) {
                for (const l of fill(b.code, all).split('\n').filter((x) => x.trim())) t.ok(shows(plain, l), `${id}:${b.line}: the pane shows "${l.trim()}"`);
              }
            } else {
              for (const n of used) t.match(plain, `{{${n}}}`, `${id}: {{${n}}} stays, dimmed, while unknown`);
            }
          }
        }
      }
    }
    const cached = new LessonCache(DIR, makeTheme(false)).render(id, all, 80);
    t.equal(cached.title, title, `${id}: the lesson pane's title`);
    t.same(cached.missing, [], `${id}: the lesson pane misses nothing when everything is known`);
  }
  const stageLessonsWithout = ids.filter((id) => fs.existsSync(lessonFile(id)) && !tryItSection(lessonMd(id))?.length);
  if (stageLessonsWithout.length) t.comment(`stage lessons with no Try it block: ${stageLessonsWithout.join(', ')}`);
});

t.test("the known placeholders are exactly what the TUI's Model can fill", async (t) => {
  const id = 'ab'.repeat(32);
  const root = '/var/lib/gb-known';
  const cg = `/sys/fs/cgroup/memory/glassbox/${id}`;
  const snapshot: Snapshot = {
    id,
    stage: 'rootfs',
    pid: 4242,
    namespaces: [],
    mountinfo: [],
    cgroup: [{ path: `${cg}/memory.limit_in_bytes`, written: '33554432', why: '--memory' }],
    interfaces: [],
    processes: [],
  };
  const events: GlassboxEvent[] = [
    { kind: 'host', t: 1, detail: { what: 'resolve', input: 'busybox', reference: 'docker.io/library/busybox:latest', registry: 'registry.example', repository: 'library/busybox', tag: 'latest' } },
    { kind: 'host', t: 2, detail: { what: 'manifest', digest: `sha256:${'cd'.repeat(32)}`, mediaType: 'application/vnd.oci.image.manifest.v1+json' } },
    { kind: 'host', t: 3, detail: { what: 'unpack', diffId: `sha256:${'ef'.repeat(32)}`, dir: `${root}/layers/sha256/${'ef'.repeat(32)}/diff`, stats: { files: 0, dirs: 0, symlinks: 0, hardlinks: 0, whiteouts: 0, opaques: 0, devices: 0, fifos: 0, xattrs: 0, bytes: 0 }, samples: [] } },
    { kind: 'stage', t: 4, stage: 'spawn', phase: 'paused', about: 'x', id },
    { kind: 'snapshot', t: 5, snapshot },
  ];
  const m = new Model(stageIds());
  for (const e of events) m.apply(e);
  const v = m.placeholders();
  t.same(Object.keys(v).sort(), [...KNOWN].sort(), 'a stream that tells everything fills exactly the known names');
  t.equal(v.id, id.slice(0, 12));
  t.equal(v.pid, '4242');
  t.equal(v.cgroup, cg);
  t.equal(v.root, root);
  t.equal(v.merged, `${root}/containers/${id}/merged`);
});

t.test('the block runner names each failing command, and nothing else', async (t) => {
  const code = [
    '# a comment',
    'true',
    'ls /nonexistent-gb-lessons',
    'x=$(cat /nonexistent-gb-lessons); echo "x=$x"',
    'echo ok | grep -q nope',
    'findmnt /nonexistent-gb-lessons || echo "not mounted here"',
    '# this fails on purpose',
    'false',
    'echo done',
  ].join('\n');
  const r = await runBlock(code, NO_COLOR, '/');
  t.same(
    r.failures.map((f) => [f.line, f.expected]),
    [
      [3, false],
      [4, false],
      [5, false],
      [8, true],
    ],
    'every failing line, pipelines and $(...) included; "|| echo" is not a failure; a marked one is expected',
  );
  t.match(r.failures[0]!.stderr, /nonexistent-gb-lessons/, "a failure carries its command's stderr");
  t.equal(r.failures[0]!.command, 'ls /nonexistent-gb-lessons');
  t.match(r.stdout, /not mounted here\ndone\n$/, 'it goes on after a failure');
  t.same(r.unexpectedSuccess, []);
});

// ---- the runs --------------------------------------------------------------

let root: string;
let store: Store;
let pathDir: string;
let cwd: string;
let demoDigest: string;
let shimsBefore: number[] = [];

if (isRoot) {
  t.before(async () => {
    root = fs.mkdtempSync('/tmp/glassbox-lessons-');
    store = await Store.open(root);
    demoDigest = (await ensureDemoImage(store)).digest;
    pathDir = fs.mkdtempSync('/tmp/glassbox-lessons-bin-');
    cwd = fs.mkdtempSync('/tmp/glassbox-lessons-cwd-');
    // The lessons call glassbox by name, on the default store: this build, on this test's store.
    fs.writeFileSync(path.join(pathDir, 'glassbox'), `#!/bin/sh\nexec '${process.execPath}' '${BIN}' "$@"\n`, { mode: 0o755 });
    shimsBefore = shimPids();
  });
  t.teardown(() => {
    removeCgroupParent(store.cgroupParent);
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(pathDir, { recursive: true, force: true });
    fs.rmSync(cwd, { recursive: true, force: true });
  });
}

/** What a student's second terminal has: this build as `glassbox`, this store as the default one. */
function studentEnv(): NodeJS.ProcessEnv {
  return { ...NO_COLOR, PATH: `${pathDir}:${process.env.PATH}`, GLASSBOX_ROOT: root };
}

function glassbox(args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [BIN, '--root', root, ...args], { encoding: 'utf8', timeout: 60_000, env: NO_COLOR });
}

/** Nothing of this store's containers may outlive a run: no directory, no mount, no cgroup. */
function assertNothingLeft(t: Test, after: string): void {
  const containers = path.join(root, 'containers');
  t.same(fs.existsSync(containers) ? fs.readdirSync(containers) : [], [], `${after}: no container directory left`);
  t.notMatch(fs.readFileSync('/proc/self/mountinfo', 'utf8'), root, `${after}: no mount of the store left on the host`);
  t.same(
    containerCgroups().filter((c) => c.includes(`/${store.cgroupParent}/`)),
    [],
    `${after}: no container cgroup of this store left in any hierarchy`,
  );
}

/** The values the same pause shows a student who asks glassbox inspect, as test/walkthrough.test.ts finds them. */
function inspectValues(t: Test, shortId: string): { values: Record<string, string>; snap?: Snapshot } {
  const r = glassbox(['inspect', '--json', shortId]);
  if (!t.equal(r.status, 0, `glassbox inspect ${shortId} answers`, { stderr: r.stderr })) return { values: {} };
  const snap = JSON.parse(r.stdout) as Snapshot;
  const v: Record<string, string> = { id: snap.id.slice(0, 12), root, merged: path.join(root, 'containers', snap.id, 'merged') };
  if (snap.pid) v.pid = String(snap.pid);
  const dirs = [...new Set(snap.cgroup.map((c) => path.dirname(c.path)).filter((d) => path.basename(d) === snap.id))];
  const memory = detectCgroups().v1Roots.memory;
  const dir = (memory && dirs.find((d) => d.startsWith(`${memory}/`))) || dirs[0];
  if (dir) v.cgroup = dir;
  return { values: v, snap };
}

interface TryOptions {
  /** Values the test knows by other means, for placeholders the TUI cannot fill at this pause (reported as failures first). */
  known: Record<string, string>;
  /** Where this runs, for the messages: "at the create pause, right after the pull"; by default the pause's own stage. */
  where?: string;
}

/**
 * At a pause: the TUI's values (the trace folded by the Model), checked
 * against glassbox inspect; the lesson rendered with them; then each block of
 * the stage's Try it section run in bash, each failing command one failure.
 */
async function tryLessonAt(t: Test, run: { trace: string }, pause: Pause, lessonId: string, o: TryOptions): Promise<void> {
  const where = o.where ?? `at the ${pause.stage} pause`;
  const { values: tui, snapshot } = await valuesAtPause(run.trace, pause);
  for (const k of Object.keys(tui)) t.ok(KNOWN.has(k), `${pause.stage}: the Model fills {{${k}}}, a known name`);
  if (pause.id) {
    t.equal(tui.id, pause.id, `${pause.stage}: the TUI's {{id}} is the pause line's`);
    t.equal(snapshot?.id.slice(0, 12), pause.id, `${pause.stage}: the pause's snapshot is this container's`);
    const { values: asked } = inspectValues(t, pause.id);
    // Where both know a value, it must be the same one.
    for (const k of ['id', 'pid', 'cgroup', 'root', 'merged'] as const) {
      if (tui[k] !== undefined && asked[k] !== undefined) t.equal(tui[k], asked[k], `${pause.stage}: {{${k}}} in the TUI is what glassbox inspect says`);
    }
    o = { ...o, known: { ...asked, ...o.known } };
  }
  const md = lessonMd(lessonId);
  const blocks = tryItSection(md) ?? [];
  // The lesson pane at this pause: it renders, and shows the commands with these values in.
  const rendered = stripVTControlCharacters(renderLesson(md, tui, 100, makeTheme(false)));
  for (const b of blocks) {
    for (const l of fill(b.code, tui).split('\n').filter((x) => x.trim())) {
      if (!shows(rendered, l)) t.fail(`lessons/${lessonId}.md:${b.line}: the lesson pane ${where} does not show "${l.trim()}"`);
    }
  }
  for (const b of blocks) await tryBlock(t, lessonId, b, tui, where, o);
}

async function tryBlock(t: Test, lessonId: string, b: Block, tui: Record<string, string>, where: string, o: TryOptions): Promise<void> {
  const label = `lessons/${lessonId}.md:${b.line}`;
  const skip = NOT_RUN.find((s) => s.stage === lessonId && s.match.test(b.code));
  if (skip) {
    t.comment(`${label}: not run: ${skip.why}`);
    return;
  }
  const missing = placeholdersOf(b.code).filter((n) => tui[n] === undefined);
  if (missing.length) {
    t.fail(`${label}: the TUI cannot fill ${missing.map((n) => `{{${n}}}`).join(', ')} ${where}: its lesson pane shows them unfilled (the block is still run, with values found otherwise, where there are any)`, {
      known: Object.keys(tui),
    });
  }
  const values = { ...o.known, ...tui };
  const code = fill(b.code, values);
  const left = placeholdersOf(code);
  if (left.length) {
    t.comment(`${label}: not run ${where}: nothing gives ${left.map((n) => `{{${n}}}`).join(', ')} here`);
    return;
  }
  const r = await runBlock(code, studentEnv(), cwd);
  if (r.timedOut) t.fail(`${label}: the block did not end within a minute ${where}`, { code, stdout: r.stdout, stderr: r.stderr });
  for (const f of r.failures) {
    if (f.expected) {
      t.pass(`${label}: "${f.command.trim()}" fails, as the lesson says it does`);
      continue;
    }
    t.fail(`${label} (line ${b.line + f.line - 1}) ${where}: \`${f.command.trim()}\` exited ${f.rc}${f.stderr ? `: ${f.stderr.trim()}` : ' (nothing on stderr)'}`, {
      command: f.command.trim(),
      rc: f.rc,
      stderr: f.stderr,
    });
  }
  for (const l of r.unexpectedSuccess) t.fail(`${label} (line ${b.line + l - 1}) ${where}: the lesson says this fails, and it did not`);
  if (!r.failures.some((f) => !f.expected) && !r.unexpectedSuccess.length) t.pass(`${label}: every command of the block runs ${where}`);
}

/**
 * Take a run through its pauses, calling atPause at each before answering it.
 * Whatever goes wrong in the test, the run is not left paused: its stdin is
 * closed (the end of input runs it to the end), and past the timeout it is
 * interrupted, which undoes what it built.
 */
async function drive(run: PausedRun, atPause: (p: Pause) => Promise<void>, timeoutMs = 90_000): Promise<{ code: number | null; seen: string[] }> {
  const seen: string[] = [];
  try {
    for (;;) {
      const pause = await run.nextPause();
      if (!pause) break;
      seen.push(pause.stage);
      await atPause(pause);
      run.answer();
    }
  } finally {
    run.child.stdin.end();
  }
  return { code: await run.finish(timeoutMs), seen };
}

function alive(pid: string | undefined): boolean {
  if (!pid) return false;
  try {
    fs.readlinkSync(`/proc/${pid}/exe`);
    return true;
  } catch {
    return false;
  }
}

t.test("every stage lesson's Try it runs at its pause: the demo, one --step run", ROOT_ONLY, async (t) => {
  const trace = path.join(cwd, 'step.jsonl');
  const run = new PausedRun(process.execPath, [BIN, '--root', root, 'run', '--plain', '--rm', '--step', '--record', trace], NO_COLOR);
  const { code, seen } = await drive(run, async (pause) => {
    if (pause.stage !== 'running') {
      await t.test(`at the ${pause.stage} pause`, async (t) => {
        await tryLessonAt(t, { trace }, pause, pause.stage, { known: { root, manifestDigest: demoDigest } });
      });
      return;
    }
    // The default demo prints and exits right after its execve: the running
    // lesson says its commands work "while it is still running", so they are
    // tried in the -t run below. What they do here is only told.
    const { values } = await valuesAtPause(trace, pause);
    t.comment(`running: PID 1 (${values.pid}) ${alive(values.pid) ? 'still runs' : 'has already exited'} at the running pause of the default demo`);
    if (alive(values.pid)) return;
    for (const b of tryItSection(lessonMd('running')) ?? []) {
      const r = await runBlock(fill(b.code, { root, ...values }), studentEnv(), cwd);
      for (const f of r.failures) t.comment(`  lessons/running.md:${b.line + f.line - 1} with the demo exited: \`${f.command.trim()}\` exited ${f.rc}: ${f.stderr.trim() || '(nothing on stderr)'}`);
    }
  });
  t.equal(code, 0, 'the demo exits 0', { stderr: run.err.slice(-2000) });
  t.same(seen, stageIds(), 'one pause before every stage, in order');
  t.match(run.out, /^glassbox-demo: what a process sees from inside its container$/m, "the demo's output");
  assertNothingLeft(t, 'the --step run');
});

t.test('the running lesson, while the program runs: the demo with -t waits at its prompt', ROOT_ONLY, async (t) => {
  const trace = path.join(cwd, 'running.jsonl');
  const run = new PausedRun(process.execPath, [BIN, '--root', root, 'run', '--plain', '--rm', '-t', '--break', 'running', '--record', trace], NO_COLOR);
  let pid: string | undefined;
  let id: string | undefined;
  try {
    const pause = await run.nextPause();
    t.equal(pause?.stage, 'running', 'one pause, before running');
    if (pause) {
      id = pause.id;
      pid = (await valuesAtPause(trace, pause)).values.pid;
      t.ok(alive(pid), `PID 1 (${pid}) runs at the pause`);
      await tryLessonAt(t, { trace }, pause, 'running', { known: { root } });
    }
  } finally {
    run.answer();
    run.child.stdin.end();
    // The demo waits at "demo>" on its terminal: end it as a student would.
    const stop = id ? glassbox(['stop', id]) : undefined;
    t.equal(stop?.status, 0, 'glassbox stop ends the program', { stderr: stop?.stderr });
    if (alive(pid)) process.kill(Number(pid), 'SIGKILL');
  }
  const code = await run.finish(30_000);
  t.notMatch(run.err, /paused before (?!running)/, 'no other pause');
  t.ok(code === 143 || code === 137, `the run ends with the program's SIGTERM (or SIGKILL) status: ${code}`, { stderr: run.err.slice(-2000) });
  assertNothingLeft(t, 'the -t run');
});

t.test('the pull and create lessons, on an image pulled from a registry on 127.0.0.1', ROOT_ONLY, async (t) => {
  let reg: Registry | undefined;
  try {
    const fx = await fixtureImages();
    reg = await startRegistry();
    await reg.push(fx.layout('busybox'), 'lessons/busybox:latest');
  } catch (e) {
    await reg?.stop();
    t.fail(`a registry to pull from: ${(e as Error).message}`);
    return;
  }
  t.teardown(() => reg?.stop());
  const trace = path.join(cwd, 'pull.jsonl');
  const run = new PausedRun(
    process.execPath,
    [BIN, '--root', root, 'run', '--plain', '--rm', '--break', 'pull,create', '--record', trace, `${reg.host}/lessons/busybox:latest`, 'true'],
    NO_COLOR,
  );
  const pulled = { registry: reg.host, repository: 'lessons/busybox', tag: 'latest', root };
  const { code, seen } = await drive(run, async (pause) => {
    if (pause.stage === 'pull') {
      // Before the pull nothing of it is known: what the lesson pane can fill in the pull lesson here.
      const { values } = await valuesAtPause(trace, pause);
      const used = placeholdersIn(lessonMd('pull'));
      const missing = used.filter((n) => values[n] === undefined);
      t.same(missing, [], `lessons/pull.md: at the pull pause of an image not yet in the store, the TUI fills ${used.map((n) => `{{${n}}}`).join(', ')} (it knows ${JSON.stringify(values)})`);
    } else if (pause.stage === 'create') {
      // Right after the pull: the first pause at which the pull lesson's commands have something to look at.
      await t.test('the pull lesson, at the create pause (the pull just done)', async (t) => {
        await tryLessonAt(t, { trace }, pause, 'pull', { known: pulled, where: 'at the create pause, right after the pull' });
      });
      await t.test('the create lesson, at its pause', async (t) => {
        await tryLessonAt(t, { trace }, pause, 'create', { known: pulled });
      });
    }
  });
  t.same(seen, ['pull', 'create'], 'a pause before pull and before create');
  t.equal(code, 0, 'busybox true exits 0', { stderr: run.err.slice(-2000) });
  assertNothingLeft(t, 'the registry run');
});

t.test('no glassbox-shim left running', ROOT_ONLY, async (t) => {
  const before = new Set(shimsBefore);
  t.same(
    shimPids().filter((p) => !before.has(p)),
    [],
    'no glassbox-shim process these runs started is still there',
  );
});
