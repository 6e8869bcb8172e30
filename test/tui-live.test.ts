// The TUI on a real live run: glassbox run with no image (the built-in demo,
// paused before every stage) on a real terminal (tmux), in a store of the
// test's own. Stepped through every stage to the program's output and its
// exit; quit half way, leaving nothing behind; resized while it runs; a shell
// opened at a pause before and after the PID namespace, and the TUI back
// after it; --plain and a run with no terminal print plain lines.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';
import t, { type Test } from 'tap';
import { Store } from '../src/image/store.js';
import { stageIds } from '../src/runtime/stages/index.js';
import { containerCgroups, shimPids, removeCgroupParent } from './lib/leftovers.js';
import { Tmux, WAIT_MS } from './lib/tmux.js';
import { tmpdir } from './lib/tmp.js';

// The CLI of the same build as this test, wherever it was compiled to.
const BIN = fileURLToPath(new URL('../src/cli/bin.js', import.meta.url));
const STAGES = stageIds();
const needs =
  process.getuid?.() !== 0
    ? 'a live run makes namespaces, mounts and cgroups: it needs root'
    : spawnSync('tmux', ['-V']).status !== 0
      ? 'no tmux: the TUI needs a terminal to draw on'
      : false;
if (needs) t.comment(`skipping: ${needs}`);

/** A store of the test's own, opened before any run (opening cleans its tmp/, which must not happen under a run); it and its cgroup parent go when the test ends. */
async function ownStore(t: Test, label: string): Promise<{ root: string; store: Store }> {
  const root = tmpdir(t, `tuilive-${label}`);
  const store = await Store.open(root);
  t.teardown(() => {
    removeCgroupParent(store.cgroupParent);
  });
  return { root, store };
}

/** A run of the demo in a new store, on a 160x45 terminal; after it, its exit status and the terminal's modes. */
async function demo(t: Test, label: string, args = ''): Promise<{ tm: Tmux; root: string; store: Store }> {
  const { root, store } = await ownStore(t, label);
  const tm = Tmux.start(t, `${process.execPath} ${BIN} --root ${root} run ${args}; echo STATUS=$?; stty -a | tr ' ;' '\\n\\n' | grep -xE -- '-?(icanon|echo)' | tr '\\n' ' '; echo; sleep 120`, {
    label: `live-${label}`,
    cols: 160,
    rows: 45,
  });
  return { tm, root, store };
}

/** n at each pause from `from` until the pause before `to`, each pause waited for. */
async function stepTo(t: Test, tm: Tmux, from: string, to: string): Promise<string> {
  let s = '';
  for (let i = STAGES.indexOf(from); i < STAGES.indexOf(to); i++) {
    tm.keys('n');
    s = await tm.waitFor(new RegExp(`PAUSED before ${STAGES[i + 1]} `));
  }
  t.match(s, `PAUSED before ${to} `, `stepped to the pause before ${to}`);
  return s;
}

/** The terminal is the shell's again: the TUI's screen gone, line editing and echo back on. */
function restored(t: Test, tm: Tmux, s: string): void {
  t.notMatch(s, new RegExp(`Stages \\d+/${STAGES.length}|┌─`), 'the TUI is gone from the screen');
  t.match(s, /^icanon echo\s*$/m, 'the terminal is in cooked mode again, with echo');
  t.equal(tm.run('display-message', '-p', '-t', '0', '#{alternate_on} #{cursor_flag} #{mouse_any_flag}').trim(), '0 1 0', 'off the alternate screen, cursor shown, no mouse reporting');
}

t.test('glassbox run with no image: n through every stage, each done in turn, the output, the exit; q quits with 0', { skip: needs }, async (t) => {
  const { tm } = await demo(t, 'demo');
  let s = await tm.waitFor(/PAUSED before pull/);
  t.match(s, /glassbox run │ PAUSED before pull/, 'the demo pauses before the first stage');
  t.match(s, `Stages 0/${STAGES.length}`);
  for (let i = 0; i < STAGES.length; i++) {
    const stage = STAGES[i]!;
    tm.keys('n');
    const next = STAGES[i + 1];
    s = await tm.waitFor(next ? new RegExp(`PAUSED before ${next} `) : /The program exited/);
    t.match(s, new RegExp(`✓ ${stage}\\s`), `${stage} done in the pipeline`);
    if (next) t.match(s, `Stages ${i + 1}/${STAGES.length}`, `${i + 1} of ${STAGES.length} stages done`);
  }
  t.match(s, /glassbox run │ exited 0/, 'the exit in the header');
  t.match(s, /The program exited with code 0/, 'and on the status line');
  // The program's output is in the stream among its calls, scrolled away by the later ones: the filter finds its first line.
  tm.keys('/');
  await tm.waitFor(/filter \(names/);
  tm.type('what a process sees');
  tm.keys('Enter');
  s = await tm.waitFor(/filter: what a process sees/);
  t.match(s, /out running\s+│ glassbox-demo: what a process sees from inside its/, "the demo's first line, as the program wrote it");
  tm.keys('Escape');
  await tm.settle();
  tm.keys('q');
  s = await tm.waitFor(/STATUS=\d+[^]*(icanon|echo)/);
  t.match(s, /^STATUS=0$/m, 'q quits with the exit code of the program, 0');
  restored(t, tm, s);
});

for (const at of ['rootfs', 'exec']) {
  t.test(`q at the pause before ${at} stops the run and leaves nothing behind`, { skip: needs }, async (t) => {
    const shimsBefore = new Set(shimPids());
    const { tm, root, store } = await demo(t, `quit-${at}`);
    await tm.waitFor(/PAUSED before pull/);
    await stepTo(t, tm, 'pull', at);
    const mine = () => containerCgroups().filter((c) => c.includes(`/${store.cgroupParent}/`));
    t.equal(store.containerIds().length, 1, 'a half-built container in the store');
    t.ok(mine().length > 0, 'with its cgroup');
    t.ok(shimPids().some((p) => !shimsBefore.has(p)), 'and its helper');
    tm.keys('q');
    const s = await tm.waitFor(/STATUS=\d+[^]*(icanon|echo)/);
    t.match(s, /glassbox: interrupted\nSTATUS=130$/m, 'the run was stopped, as Ctrl-C stops it (130)');
    restored(t, tm, s);
    t.same(store.containerIds(), [], 'no container directory in the store');
    const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(root));
    t.same(mounts, [], 'nothing of the store is mounted');
    let shims: number[] = [];
    for (const until = Date.now() + WAIT_MS; Date.now() < until; await sleep(50)) {
      shims = shimPids().filter((p) => !shimsBefore.has(p));
      if (!shims.length) break;
    }
    t.same(shims, [], 'no glassbox-shim left running');
    t.same(mine(), [], `no container cgroup under ${store.cgroupParent}`);
  });
}

// A closed terminal is SIGHUP: glassbox treats it as SIGTERM and takes the run down.

t.test('closing the terminal at a pause ends the run and leaves nothing behind', { skip: needs }, async (t) => {
  const shimsBefore = new Set(shimPids());
  const { tm, root, store } = await demo(t, 'hangup');
  await tm.waitFor(/PAUSED before pull/);
  await stepTo(t, tm, 'pull', 'rootfs');
  // Node's process, not the shell line that started it.
  const pid = Number(spawnSync('pgrep', ['-f', '--', `^${process.execPath} ${BIN} --root ${root} run`], { encoding: 'utf8' }).stdout.trim());
  t.ok(pid > 0, `glassbox is process ${pid}`);
  try {
    // The terminal goes away: its session gets SIGHUP.
    tm.kill();
    for (const until = Date.now() + WAIT_MS; fs.existsSync(`/proc/${pid}`) && Date.now() < until; ) await sleep(50);
    t.notOk(fs.existsSync(`/proc/${pid}`), 'glassbox ended with its terminal');
    let shims: number[] = [];
    for (const until = Date.now() + WAIT_MS; Date.now() < until; await sleep(50)) {
      shims = shimPids().filter((p) => !shimsBefore.has(p));
      if (!shims.length) break;
    }
    t.same(shims, [], 'no glassbox-shim left running');
    t.same(store.containerIds(), [], 'no container directory in the store');
    t.same(containerCgroups().filter((c) => c.includes(`/${store.cgroupParent}/`)), [], `no container cgroup under ${store.cgroupParent}`);
    t.same(fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(root)), [], 'nothing of the store is mounted');
  } finally {
    // What the bug leaves, gone before the store is.
    spawnSync(process.execPath, [BIN, '--root', root, 'gc'], { stdio: 'ignore' });
  }
});

t.test('a resize while the run is live redraws at each size, and the run goes on', { skip: needs }, async (t) => {
  const { tm } = await demo(t, 'resize');
  await tm.waitFor(/PAUSED before pull/);
  await stepTo(t, tm, 'pull', 'ns-uts');
  tm.resize(80, 24);
  let s = await tm.waitFor(/1 Stages\s+2 Lesson/);
  s = await tm.settle();
  t.match(s, /1 Stages\s+2 Lesson\s+3 Syscalls\s+4 Namespaces\s+5 cgroup\s+6 Filesystem/, 'at 80x24 the panes are tabs');
  t.match(s, /PAUSED before ns-uts/);
  t.equal(s.split('\n').filter((l) => l.length).length, 24, 'every row drawn');
  t.ok(s.split('\n').every((l) => l.length <= 80), 'nothing past the edge');
  for (const [cols, rows] of [
    [100, 30],
    [60, 20],
    [120, 40],
  ] as const) {
    tm.resize(cols, rows);
    s = await tm.settle();
    t.match(s, /PAUSED before ns-uts/, `redrawn at ${cols}x${rows}`);
    t.ok(s.split('\n').every((l) => l.length <= cols), `nothing past the edge at ${cols}x${rows}`);
  }
  tm.resize(160, 45);
  s = await tm.waitFor(/┌─ Namespaces/);
  t.match(s, new RegExp(`┌─ Stages ${STAGES.indexOf('ns-uts')}/${STAGES.length}.*┌─ Lesson.*┌─ Namespaces`), 'back at 160x45, every pane side by side');
  // The run goes on from where it was, and the keys still work.
  tm.keys('n');
  s = await tm.waitFor(/PAUSED before ns-ipc /);
  t.match(s, /✓ ns-uts\s/);
  tm.keys('c');
  s = await tm.waitFor(/The program exited/);
  t.match(s, /exited 0/);
  tm.resize(80, 24);
  s = await tm.settle();
  t.match(s, /exited 0/, 'and a resize after the end too');
  tm.keys('q');
  s = await tm.waitFor(/STATUS=\d+[^]*(icanon|echo)/);
  t.match(s, /^STATUS=0$/m);
});

t.test('s opens a shell in the half-built container, before and after the PID namespace, and the TUI comes back', { skip: needs }, async (t) => {
  const { tm } = await demo(t, 'shell');
  const hostPidNs = fs.readlinkSync('/proc/self/ns/pid');
  await tm.waitFor(/PAUSED before pull/);
  let from = 'pull';
  for (const at of ['cgroup', 'rootfs']) {
    await stepTo(t, tm, from, at);
    from = at;
    tm.keys('s');
    // The screen behind the TUI's still shows the last shell's lines: wait for a prompt on the last line.
    let s = await tm.waitUntil((x) => !new RegExp(`Stages \\d+/${STAGES.length}`).test(x) && /^# ?$/.test(x.trimEnd().split('\n').pop() ?? ''));
    t.notMatch(s, new RegExp(`Stages \\d+/${STAGES.length}`), `at ${at}: the TUI steps aside for the shell`);
    t.match(s, /^# ?$/m, `at ${at}: a shell prompt`);
    tm.type(`hostname; echo at-${at} pid=$$ $(readlink /proc/self/ns/pid)`);
    tm.keys('Enter');
    const said = new RegExp(`^(.*)\\nat-${at} pid=(\\d+) (pid:\\[\\d+\\])$`, 'm');
    s = await tm.waitFor(said);
    const [, host, pid, ns] = said.exec(s) ?? [];
    t.equal(host, os.hostname(), `at ${at}: hostname runs in it (the name is not set yet: the host's)`);
    // After ns-pid the helper is PID 1 of a new namespace, and the shell joins it.
    if (at === 'rootfs') {
      t.not(ns, hostPidNs, `at ${at}: in the container's PID namespace`);
      t.ok(Number(pid) > 1 && Number(pid) < 100, `at ${at}: a small pid there (${pid})`);
    } else t.equal(ns, hostPidNs, `at ${at}: in the host's PID namespace still`);
    tm.type('exit');
    tm.keys('Enter');
    s = await tm.waitFor(new RegExp(`glassbox run │ PAUSED before ${at} `));
    t.match(s, `PAUSED before ${at} `, `at ${at}: the TUI is back`);
    t.match(s, new RegExp(`Stages \\d+/${STAGES.length}`));
    // It reads the keys again: the terminal is its own, not the shell's.
    tm.keys('?');
    s = await tm.waitFor(/Keys \(any key closes\)/);
    t.match(s, /Keys \(any key closes\)/, `at ${at}: and takes keys again`);
    tm.keys('x');
    await tm.settle();
  }
  tm.keys('c');
  let s = await tm.waitFor(/The program exited/);
  t.match(s, /exited 0/, 'the run goes on to its end');
  tm.keys('q');
  s = await tm.waitFor(/STATUS=\d+[^]*(icanon|echo)/);
  t.match(s, /^STATUS=0$/m);
  restored(t, tm, s);
});

/** Escape sequences only a full-screen program writes: the alternate screen, cursor addressing, mouse reporting, scroll regions. */
const SCREEN_CODES = /\x1b\[\?(1049|47|1047|1000|1002|1003|1006|25)[hl]|\x1b\[\d+;\d+[Hf]|\x1b\[\d*;?\d*r/;

t.test('--plain on a terminal, and a run with no terminal, print plain lines', { skip: needs }, async (t) => {
  const { root } = await ownStore(t, 'plain');
  const bytes = path.join(root, 'pane.out');
  const tm = Tmux.start(t, `sleep 0.5; ${process.execPath} ${BIN} --root ${root} run --plain; echo STATUS=$?; sleep 120`, { label: 'live-plain', cols: 160, rows: 45 });
  // Every byte the program writes to its terminal.
  tm.run('pipe-pane', '-o', '-t', '0', `cat >> ${bytes}`);
  const s = await tm.waitFor(/STATUS=\d+/);
  t.match(s, /^STATUS=0$/m);
  const out = fs.readFileSync(bytes, 'utf8');
  const text = stripVTControlCharacters(out);
  t.match(text, /✓ pull\s+\d+ ms/, 'a stage line');
  t.match(text, /✓ running\s+\d+ ms/, 'the last stage');
  t.match(text, 'glassbox-demo: what a process sees', "the program's own output");
  t.notMatch(out, SCREEN_CODES, 'none of the TUI\'s screen codes');
  // With pipes for stdin, stdout and stderr.
  const r = spawnSync(process.execPath, [BIN, '--root', root, 'run'], { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], input: '', timeout: WAIT_MS });
  t.equal(r.status, 0, `exit 0${r.stderr ? `: ${r.stderr.slice(-300)}` : ''}`);
  t.match(r.stdout, /^glassbox-demo: what a process sees from inside its container$/m, 'the program on stdout');
  t.match(r.stderr, /^✓ pull\s+\d+ ms$/m, 'stage lines on stderr, plain');
  t.notMatch(r.stdout + r.stderr, /\x1b/, 'no escape codes at all: not a terminal, no colour either');
});
