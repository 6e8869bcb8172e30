// Classroom walkthroughs, for real: every file in lessons/walkthroughs parses;
// `glassbox lesson` lists them and runs each one to its end on the built-in
// demo image; every "try it" command of every note runs without error at its
// pause; the demo's eat, forks and cow sections do what the notes say; and
// nothing is left behind. Needs root, as glassbox run does.
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { demoBinaryPath, ensureDemoImage } from '../src/image/demo.js';
import { Store } from '../src/image/store.js';
import { detectCgroups } from '../src/runtime/cgroup/index.js';
import { stageIds } from '../src/runtime/stages/index.js';
import { defaultWalkthroughDir, fillValues, listWalkthroughs, parseWalkthrough, tryItBlocks, type Walkthrough } from '../src/lesson/walkthrough.js';
import { GlassboxError } from '../src/util/errors.js';
import { containerCgroups, removeCgroupParent } from './lib/leftovers.js';
import { tmpdir } from './lib/tmp.js';

const BIN = fileURLToPath(new URL('../src/cli/bin.js', import.meta.url));
const NAMES = ['cgroups', 'docker-run', 'layers', 'namespaces'];
const isRoot = process.getuid?.() === 0;
/** Plain text whatever the test runner sets: the checks read it. */
const NO_COLOR = { ...process.env, FORCE_COLOR: '0' };

let root: string;
let store: Store;
/** A directory holding a `glassbox` that runs this build: the notes' commands call it by name. */
let pathDir: string;
let layerDir: string;

t.before(async () => {
  root = fs.mkdtempSync('/tmp/glassbox-walk-');
  store = await Store.open(root);
  const demo = await ensureDemoImage(store);
  const config = store.config(store.manifest(demo.digest));
  layerDir = store.layerDiff(config.rootfs.diff_ids[config.rootfs.diff_ids.length - 1]!);
  pathDir = fs.mkdtempSync('/tmp/glassbox-walk-bin-');
  fs.writeFileSync(path.join(pathDir, 'glassbox'), `#!/bin/sh\nexec '${process.execPath}' '${BIN}' "$@"\n`, { mode: 0o755 });
});
t.teardown(() => {
  removeCgroupParent(store.cgroupParent);
  fs.rmSync(root, { recursive: true, force: true });
  fs.rmSync(pathDir, { recursive: true, force: true });
});

function glassbox(args: string[], input?: string): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [BIN, '--root', root, ...args], { encoding: 'utf8', input: input ?? '', timeout: 120_000, env: NO_COLOR });
}

/** Nothing of this store's containers may outlive a run: no directory, no mount, no cgroup. */
function assertNothingLeft(t: Test): void {
  const containers = path.join(root, 'containers');
  t.same(fs.existsSync(containers) ? fs.readdirSync(containers) : [], [], 'no container directory left');
  t.notMatch(fs.readFileSync('/proc/self/mountinfo', 'utf8'), root, 'no mount of the store left on the host');
  // Scoped to this store's cgroup parent: other tests may run containers meanwhile.
  t.same(
    containerCgroups().filter((c) => c.includes(`/${store.cgroupParent}/`)),
    [],
    'no container cgroup of this store left in any hierarchy',
  );
}

/** The note headers glassbox printed, in order: "at ns-uts", "after the run", ... */
function headers(stderr: string): string[] {
  return [...stderr.matchAll(/^── (.+?) ─+$/gm)].map((m) => m[1]!.replace(/:.*$/, ''));
}

t.test('every walkthrough parses, stops only at real stages, and has a note at each stop', async (t) => {
  const all = listWalkthroughs(defaultWalkthroughDir());
  t.same(all.map((w) => w.name), NAMES, 'the four walkthroughs, by name; the README is not one');
  const ids = stageIds();
  for (const w of all) {
    t.ok(w.title && w.summary, `${w.name}: a title and a summary`);
    t.ok(w.command.length > 0, `${w.name}: a command`);
    t.ok(w.breakpoints.length > 0, `${w.name}: at least one stop`);
    for (const b of w.breakpoints) {
      t.ok(ids.includes(b), `${w.name}: ${b} is a stage`);
      t.ok(w.notes.get(b)?.text, `${w.name}: a note at ${b}`);
      t.ok(tryItBlocks(w.notes.get(b)!.text).length > 0, `${w.name}: something to try at ${b}`);
    }
    t.same([...w.notes.keys()], w.breakpoints, `${w.name}: notes only at its stops, in run order`);
    t.ok(w.intro.length > 0, `${w.name}: an introduction`);
    t.ok(w.after, `${w.name}: a closing note`);
  }
  const byName = new Map(all.map((w) => [w.name, w]));
  t.same(byName.get('docker-run')!.breakpoints, ids, '"what docker run does" stops at every stage');
  t.equal(byName.get('cgroups')!.flags.memoryBytes, 32 * 2 ** 20);
  t.equal(byName.get('cgroups')!.flags.pidsMax, 20);
});

t.test('glassbox lesson lists the walkthroughs: name, title, summary', async (t) => {
  const r = glassbox(['lesson']);
  t.equal(r.status, 0, 'exits 0', { stderr: r.stderr });
  const lines = r.stdout.trim().split('\n');
  t.match(lines[0], /^NAME +TITLE +SUMMARY$/);
  t.same(lines.slice(1).map((l) => l.split(/\s+/)[0]), NAMES);
  t.match(r.stdout, /^cgroups +cgroups limit a runaway process +A program forks/m);
  t.match(r.stdout, /^docker-run +What docker run does +/m);
  t.match(r.stdout, /^layers +Layers and copy-on-write +/m);
  t.match(r.stdout, /^namespaces +Namespaces one by one +/m);
});

t.test('an unknown walkthrough: one line naming the known ones, exit 1', async (t) => {
  const r = glassbox(['lesson', 'nosuch']);
  t.equal(r.status, 1);
  t.equal(r.stderr, `glassbox: lesson: no walkthrough "nosuch"; walkthroughs: ${NAMES.join(', ')}\n`);
  t.equal(r.stdout, '');
});

const GOOD = `---
title: A test
summary: One stop.
command: hostname
break: exec
---

Intro.

## at exec

At exec, {{pid}}.

\`\`\`sh
true
\`\`\`
`;

t.test('a malformed walkthrough is one line naming the file and the line', async (t) => {
  const dir = tmpdir(t, 'walkthroughs');
  const cases: [string, string, number, RegExp][] = [
    ['no-command', GOOD.replace('command: hostname\n', ''), 5, /missing "command:"/],
    ['empty-command', GOOD.replace('command: hostname', 'command:'), 4, /missing "command:"/],
    ['unknown-stage', GOOD.replace('break: exec', 'break: exec, ns-time'), 5, /unknown stage "ns-time"; stages: pull, create/],
    ['unknown-note-stage', GOOD.replace('## at exec', '## at ns-foo'), 10, /unknown stage "ns-foo"/],
    ['note-not-a-stop', GOOD + '\n## at running\n\nlate\n', 18, /a note at running, which is not in "break:" \(line 5\)/],
    ['no-note', GOOD.replace('break: exec', 'break: rootfs, exec'), 5, /no note for rootfs: add a "## at rootfs" section/],
    ['unknown-key', GOOD.replace('title:', 'tilte:'), 2, /unknown key "tilte"/],
    ['no-front-matter', GOOD.slice(4), 1, /starts with a front matter block/],
    ['unclosed-front', GOOD.replace(/^---\n\nIntro/m, 'Intro'), 6, /expected "key: value" in the front matter, got "Intro\."/],
    ['never-closed', '---\ntitle: x\n', 1, /no closing "---"/],
    ['bad-flag', GOOD.replace('break: exec', 'break: exec\nflags: --privileged'), 6, /flag "--privileged" is not one a walkthrough may give/],
    ['bad-memory', GOOD.replace('break: exec', 'break: exec\nflags: --memory lots'), 6, /--memory lots/],
    ['unknown-placeholder', GOOD.replace('{{pid}}', '{{pidd}}'), 12, /unknown placeholder \{\{pidd\}\}/],
    ['early-placeholder', GOOD.replace('break: exec', 'break: create, exec').replace('## at exec', '## at create\n\nsee {{pid}}\n\n## at exec'), 12, /\{\{pid\}\} is not known at the create pause \(it is from the cgroup pause on\)/],
    ['unclosed-fence', GOOD.replace('true\n```\n', 'true\n'), 14, /code block opened with ``` is never closed/],
    ['stray-heading', GOOD + '\n## Notes\n', 18, /a level-2 heading must be "## at STAGE"/],
    ['out-of-order', GOOD.replace('break: exec', 'break: rootfs, exec').concat('\n## at rootfs\n\nx\n'), 18, /the note at rootfs comes after the one at exec/],
  ];
  for (const [name, text, line, why] of cases) {
    const file = path.join(dir, `${name}.md`);
    fs.writeFileSync(file, text);
    let err: unknown;
    try {
      parseWalkthrough(text, file);
    } catch (e) {
      err = e;
    }
    t.type(err, GlassboxError, `${name}: refused`);
    t.match((err as Error).message, new RegExp(`^lesson ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:${line}: `), `${name}: names the file and line ${line}`);
    t.match((err as Error).message, why, `${name}: says why`);
    t.notMatch((err as Error).message, /\n/, `${name}: one line`);
    // The command says the parser's line (a few cases: each costs a glassbox start).
    if (['no-command', 'unknown-stage', 'early-placeholder'].includes(name)) {
      const r = glassbox(['lesson', '--dir', dir, name]);
      t.equal(r.status, 1, `${name}: glassbox lesson exits 1`);
      t.equal(r.stderr, `glassbox: ${(err as Error).message}\n`, `${name}: and says the same one line`);
    }
    fs.rmSync(file);
  }
  fs.writeFileSync(path.join(dir, 'good.md'), GOOD);
  const ok = parseWalkthrough(GOOD, 'good.md');
  t.same(ok.breakpoints, ['exec']);
  t.same(ok.command, ['hostname']);
  t.equal(ok.image, undefined, 'no image: the built-in demo');
  const list = glassbox(['lesson', '--dir', dir]);
  t.equal(list.status, 0, 'the list exits 0', { stderr: list.stderr });
  t.match(list.stdout, /^good +A test +One stop\.$/m);
  fs.writeFileSync(path.join(dir, 'broken.md'), GOOD.replace('break: exec', 'break: nope'));
  const broken = glassbox(['lesson', '--dir', dir]);
  t.equal(broken.status, 1, 'a broken file spoils the list');
  t.match(broken.stderr, /^glassbox: lesson \S+broken\.md:5: unknown stage "nope"/);
  t.equal(broken.stderr.split('\n').length, 2, 'in one line');
});

t.test('the demo: eat, forks and cow are actions, run only when named', async (t) => {
  const all = spawnSync(demoBinaryPath(), [], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  t.equal(all.status, 0);
  for (const s of ['eat', 'forks', 'cow']) t.notMatch(all.stdout, `[${s}]`, `no [${s}] in the default output`);
  const usage = spawnSync(demoBinaryPath(), ['--help'], { encoding: 'utf8' });
  t.match(usage.stdout, /actions, run only when named:\n {4}eat +.*\n {4}forks +.*\n {4}cow +/);
  // On the host, / is no overlay: cow must not delete the host's /etc/passwd.
  const cow = spawnSync(demoBinaryPath(), ['cow'], { encoding: 'utf8' });
  t.equal(cow.status, 0);
  t.match(cow.stdout, /not an overlay: no copy-on-write to show\n {2}it changes nothing unless \/ is an overlay/);
  t.ok(fs.existsSync('/etc/passwd'), "the host's /etc/passwd is still there");
});

t.test('the demo in a container: eat meets the OOM killer, forks meets the pids limit, cow writes to upper', { skip: isRoot ? false : 'glassbox run needs root' }, async (t) => {
  const eat = glassbox(['run', '--rm', '-q', '-m', '32m', 'glassbox/demo', 'eat']);
  t.equal(eat.status, 137, 'eat: killed by SIGKILL', { stderr: eat.stderr });
  t.match(eat.stderr, /^glassbox: the kernel's OOM killer ended the program: it used more than the --memory limit \(33554432 bytes\)$/m);
  t.match(eat.stdout, /^\[eat\] /m);
  t.match(eat.stdout, /^ {2}limit +33554432 +\(32\.0 MiB\)/m, 'it reads its limit');
  const ate = [...eat.stdout.matchAll(/^ {2}ate +(\d+) MiB {3}its cgroup uses [\d.]+ MiB$/gm)].map((m) => Number(m[1]));
  t.ok(ate.length >= 2, `it ate in steps: ${ate.join(', ')}`);
  t.same(ate, ate.map((_, i) => 4 * (i + 1)), '4 MiB at a time');
  t.ok(ate[ate.length - 1]! <= 32, 'and no further than the limit');

  const forks = glassbox(['run', '--rm', '-q', '--pids-limit', '20', 'glassbox/demo', 'forks']);
  t.equal(forks.status, 0, 'forks exits 0', { stderr: forks.stderr });
  const made = /^ {2}forked +(\d+) children, then fork failed: EAGAIN \(Resource temporarily unavailable\)$/m.exec(forks.stdout);
  t.ok(made, 'fork failed with EAGAIN', { stdout: forks.stdout });
  const before = Number(/^ {2}in use +(\d+) +\(tasks in its cgroup before it forks\)/m.exec(forks.stdout)?.[1]);
  t.equal(before, 1, 'PID 1 alone in its cgroup before it forks');
  t.equal(Number(made?.[1]), 20 - before, 'as many children as the limit leaves room for');
  t.match(forks.stdout, /^ {2}in use +20 +\(tasks in its cgroup now\)/m, 'the cgroup full');
  t.match(forks.stdout, new RegExp(`^ {2}cleaned +${made?.[1]} children killed with SIGKILL and reaped$`, 'm'));

  const cow = glassbox(['run', '--rm', '-q', 'glassbox/demo', 'cow']);
  t.equal(cow.status, 0, 'cow exits 0', { stderr: cow.stderr });
  t.match(cow.stdout, new RegExp(`^ {2}lower +${layerDir} +\\(an image layer: read-only\\)$`, 'm'), 'the layer, as a host path');
  t.match(cow.stdout, new RegExp(`^ {2}upper +${root}/containers/[0-9a-f]{64}/upper `, 'm'), 'its own upper directory');
  t.match(cow.stdout, /^ {2}before\n {2}new +\/cow\.txt +No such file or directory$/m, 'a fresh container has no /cow.txt');
  const inode = (label: string, which: 'before' | 'after') => {
    const part = which === 'before' ? cow.stdout.split('  after:')[0]! : cow.stdout.split('  after:')[1]!;
    return new RegExp(`^ {2}${label} +\\S+ +dev \\d+:\\d+ +inode (\\d+)`, 'm').exec(part)?.[1];
  };
  t.ok(inode('change', 'before'), '/etc/group has an inode');
  t.equal(inode('change', 'after'), inode('change', 'before'), 'the copy-up keeps the inode number it reports');
  t.match(cow.stdout, /after: created[^\n]*\n {2}new +\/cow\.txt +dev \d+:\d+ +inode \d+ +46 bytes\n {2}change +\/etc\/group +dev \d+:\d+ +inode \d+ +22 bytes\n {2}delete +\/etc\/passwd +No such file or directory\n/);
  t.match(cow.stdout, /holds:\n {4}root:x:0:\n {4}cow:x:4242:\n/);
  t.equal(fs.readFileSync(path.join(layerDir, 'etc/group'), 'utf8'), 'root:x:0:\n', 'the layer is unchanged');
  t.ok(fs.existsSync(path.join(layerDir, 'etc/passwd')), 'and still has passwd');
  assertNothingLeft(t);
});

/** Expected output of each walkthrough's program, and its exit code. */
const PROGRAM: Record<string, { code: number; stdout: RegExp[] }> = {
  'docker-run': { code: 0, stdout: [/^\[hostname\] /m, /^\[ns\] /m, /^\[ps\] /m, /^ {2}1 +0 +glassbox-demo +<- this process$/m] },
  namespaces: { code: 0, stdout: [/^\[ns\] /m, /^\[hostname\] /m, /^\[ps\] /m, /^\[net\] /m, /^ {2}1 interface in this network namespace$/m] },
  cgroups: { code: 137, stdout: [/^\[forks\] /m, /^ {2}forked +\d+ children, then fork failed: EAGAIN /m, /^\[eat\] /m, /^ {2}ate +4 MiB/m] },
  layers: { code: 0, stdout: [/^\[cow\] /m, /the layer is unchanged/] },
};

function checkProgram(t: Test, w: Walkthrough, code: number | null, stdout: string, stderr: string): void {
  const p = PROGRAM[w.name]!;
  t.equal(code, p.code, `${w.name}: exit code ${p.code}`, { stderr });
  for (const re of p.stdout) t.match(stdout, re, `${w.name}: the program printed ${re}`);
  if (w.name === 'cgroups') {
    t.match(stderr, /^glassbox: the kernel's OOM killer ended the program: it used more than the --memory limit \(33554432 bytes\)$/m, 'the OOM line');
    const made = Number(/forked +(\d+) children, then fork failed: EAGAIN/.exec(stdout)?.[1]);
    t.ok(made > 0 && made <= 20, `the fork count, ${made}, is at or under the limit`);
  }
}

t.test('each walkthrough runs to its end with --yes, printing its notes in order', { skip: isRoot ? false : 'glassbox run needs root' }, async (t) => {
  for (const w of listWalkthroughs(defaultWalkthroughDir())) {
    const r = glassbox(['lesson', w.name, '--yes']);
    checkProgram(t, w, r.status, r.stdout, r.stderr);
    t.same(headers(r.stderr), [w.title, ...w.breakpoints.map((b) => `at ${b}`), 'after the run'], `${w.name}: the intro, a note at each stop, the closing note`);
    t.notMatch(r.stderr, /\{\{\w+\}\}/, `${w.name}: every placeholder filled`);
    t.notMatch(r.stderr, /paused before/, `${w.name}: --yes never waits`);
    t.match(r.stderr, `what runs: glassbox run --rm ${w.flagWords.join(' ')}${w.flagWords.length ? ' ' : ''}glassbox/demo ${w.command.join(' ')}`);
    t.match(r.stderr, new RegExp(`^the program exited with ${PROGRAM[w.name]!.code}$`, 'm'));
    // The stage lines go on as in glassbox run, and every stop's note comes before its stage's line.
    for (const b of w.breakpoints.filter((s) => s !== 'running')) {
      const note = r.stderr.indexOf(`── at ${b}`);
      const done = r.stderr.search(new RegExp(`✓ ${b} `));
      t.ok(note >= 0 && done > note, `${w.name}: the note at ${b} comes before ${b} runs`);
    }
    assertNothingLeft(t);
  }
});

/** What a note's placeholders stand for at a pause, found the way a student would: the pause line and glassbox inspect. */
function valuesAt(t: Test, shortId: string | undefined): Record<string, string> {
  const v: Record<string, string> = { root, layerDir };
  if (!shortId) return v;
  v.id = shortId;
  const r = glassbox(['inspect', '--json', shortId]);
  t.equal(r.status, 0, `glassbox inspect ${shortId} answers`, { stderr: r.stderr });
  const snap = JSON.parse(r.stdout) as { id: string; pid?: number; cgroup: { path: string }[] };
  v.merged = path.join(root, 'containers', snap.id, 'merged');
  if (snap.pid) v.pid = String(snap.pid);
  const dirs = [...new Set(snap.cgroup.map((c) => path.dirname(c.path)).filter((d) => path.basename(d) === snap.id))];
  const memory = detectCgroups().v1Roots.memory;
  const dir = (memory && dirs.find((d) => d.startsWith(`${memory}/`))) || dirs[0];
  if (dir) v.cgroup = dir;
  return v;
}

/** Run one note's try-it blocks as a student would, in bash -e; each must succeed. */
function runBlocks(t: Test, where: string, md: string, values: Record<string, string>, printed: string): void {
  for (const b of tryItBlocks(md)) {
    const code = fillValues(b.code, values);
    t.notMatch(code, /\{\{\w+\}\}/, `${where}: every placeholder of the block filled`);
    for (const l of code.split('\n').filter((l) => l.trim())) t.ok(printed.includes(`    ${l}\n`), `${where}: glassbox printed "${l}"`);
    const r = spawnSync('bash', ['-e', '-c', code], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, PATH: `${pathDir}:${process.env.PATH}` },
    });
    t.equal(r.status, 0, `${where}: the block at line ${b.line} of the note runs`, { code, stdout: r.stdout, stderr: r.stderr });
  }
}

t.test('every try-it command runs at its pause, with the values of that pause', { skip: isRoot ? false : 'glassbox run needs root' }, async (t) => {
  for (const w of listWalkthroughs(defaultWalkthroughDir())) {
    const child = spawn(process.execPath, [BIN, '--root', root, 'lesson', w.name], { stdio: ['pipe', 'pipe', 'pipe'], env: NO_COLOR });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((r) => child.on('exit', r));
    let gone = false;
    void exited.then(() => (gone = true));
    const seen: string[] = [];
    for (;;) {
      // The next pause: its prompt is the last thing written, and it has not been answered yet.
      const prompts = [...err.matchAll(/paused before (\S+): [^\n]*?(?:\(glassbox inspect\|shell\|resume ([0-9a-f]{12})\))?\n {2}Enter: next stage/g)];
      if (prompts.length > seen.length) {
        const [, stage, id] = prompts[seen.length]!;
        seen.push(stage!);
        const note = w.notes.get(stage!);
        t.ok(note, `${w.name}: a note at the ${stage} pause`);
        // At running the program goes on by itself: look once it is done.
        if (stage === 'running') {
          const done = w.name === 'layers' ? () => out.includes('the layer is unchanged') : w.name === 'cgroups' ? () => /cleaned/.test(out) : () => out.includes('[ps]');
          for (let i = 0; i < 400 && !done(); i++) await sleep(25);
          if (w.name === 'cgroups') await sleep(2500); // until the OOM killer has come
        }
        const printed = err.slice(err.lastIndexOf(`── at ${stage}`));
        runBlocks(t, `${w.name} at ${stage}`, note!.text, valuesAt(t, id), printed);
        child.stdin.write('\n');
        continue;
      }
      if (gone) break;
      await sleep(25);
    }
    const code = await exited;
    t.same(seen, w.breakpoints, `${w.name}: one pause at each stop, in order`);
    checkProgram(t, w, code, out, err);
    // The closing note's commands, once the run is over.
    const shortId = [...err.matchAll(/resume ([0-9a-f]{12})\)/g)].pop()?.[1];
    runBlocks(t, `${w.name} after`, w.after!, { root, layerDir, id: shortId! }, err.slice(err.lastIndexOf('── after the run')));
    assertNothingLeft(t);
  }
});

t.test('"c" at a pause stops the waiting, not the notes', { skip: isRoot ? false : 'glassbox run needs root' }, async (t) => {
  const r = glassbox(['lesson', 'namespaces'], 'c\n');
  t.equal(r.status, 0, 'exits 0', { stderr: r.stderr });
  t.same([...r.stderr.matchAll(/paused before (\S+):/g)].map((m) => m[1]), ['ns-mnt'], 'one pause, then none');
  const w = listWalkthroughs(defaultWalkthroughDir()).find((x) => x.name === 'namespaces')!;
  t.same(headers(r.stderr), [w.title, ...w.breakpoints.map((b) => `at ${b}`), 'after the run'], 'every note still shown');
  assertNothingLeft(t);
});

t.test('--record keeps the walkthrough run as a trace that glassbox replay reads', { skip: isRoot ? false : 'glassbox run needs root' }, async (t) => {
  const file = path.join(tmpdir(t, 'record'), 'layers.jsonl');
  const r = glassbox(['lesson', 'layers', '--yes', '--record', file]);
  t.equal(r.status, 0, 'exits 0', { stderr: r.stderr });
  const events = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { kind: string; stage?: string; phase?: string });
  t.equal(events[0]!.kind, 'header');
  t.same(events.filter((e) => e.kind === 'stage' && e.phase === 'paused').map((e) => e.stage), ['rootfs', 'pivot_root', 'exec', 'running'], 'its stops are in the trace');
  t.ok(events.some((e) => e.kind === 'output'), "and the program's output");
  t.equal(events[events.length - 1]!.kind, 'exit');
  const replay = glassbox(['replay', file]);
  t.equal(replay.status, 0, 'glassbox replay reads it', { stderr: replay.stderr });
  t.match(replay.stdout, /^\[cow\] /m, "and prints the program's output again");
  assertNothingLeft(t);
});

t.test('lesson --read prints an overview lesson; an unknown one is one line', async (t) => {
  const r = glassbox(['lesson', '--read', 'namespaces']);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /^Namespaces: what a process can see/);
  t.match(r.stdout, /The eight kinds/);
  t.notMatch(r.stdout, /^#/m, 'markdown rendered, not printed raw');
  const stage = glassbox(['lesson', '--read', 'ns-uts']);
  t.match(stage.stdout, /ns-uts: a hostname of its own/, 'a stage lesson too');
  const bad = glassbox(['lesson', '--read', 'nope']);
  t.equal(bad.status, 1);
  t.match(bad.stderr, /^glassbox: lesson: no lesson "nope"; lessons: images, namespaces, cgroups, tracing, pull/);
  t.equal(bad.stderr.trim().split('\n').length, 1);
});
