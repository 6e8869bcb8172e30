// bench/tui: the TUI's targets, on a real terminal (tmux, 160x45), in one run.
//
// (a) glassbox replay of a recording with 1,000,000 syscalls: the demo run's
//     stages with their pauses and snapshots, then a small HTTP server's loop
//     as strace shows one, its access log and a snapshot a second
//     (test/lib/tuiplay.ts demoRun), written by glassbox's own recorder, as
//     .jsonl and as .jsonl.gz. The real CLI draws; a hook loaded with
//     node --import (tuiplay.ts recordFrames) notes when each frame reached
//     the terminal. Measured: process start to the first screen (the
//     pipeline, paused before pull), to the whole trace loaded (the first
//     frame whose header says "event N/M" without its …), G to the last event
//     drawn, and the peak RSS (GNU time %M). Median of N runs.
// (b) a live run's TUI fed 50,000 syscall events a second for 10 s
//     (tuiplay.ts lag): how far the stream pane is behind the newest event
//     fed, sampled at every redraw; max and p99, N runs.
//
// No other tool draws a container's run, so there is no peer to set beside
// these numbers: each is printed with its target.
//
//   npm run bench:tui             (N = 5)
//   npm run bench:tui -- --runs 9
import * as fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { openRecorder } from '../src/trace/record.js';
import { Tmux, type Teardown } from '../test/lib/tmux.js';
import { demoRun, type LagStats } from '../test/lib/tuiplay.js';
import { ensureTools, GNU_TIME, median, runsArg } from './lib.js';

const SYSCALLS = 1_000_000;
const RATE = 50_000;
const SECONDS = 10;
const COLS = 160;
const ROWS = 45;
const TARGET = { firstMs: 3000, loadedMs: 3000, rssMb: 400, lagMs: 100 };

// Beside this file, wherever it was compiled to: the CLI and the test's player of the same build.
const here = path.dirname(fileURLToPath(import.meta.url));
const BIN = path.join(here, '../src/cli/bin.js');
const PLAY = path.join(here, '../test/lib/tuiplay.js');

/** The header once the whole trace is in: "event 21/1.0M" with no … after it. */
const LOADED = 'event \\S+/[\\d.]+[kM]?(?![\\d.kM…])';

interface ReplaySample {
  firstMs: number;
  loadedMs: number;
  endMs: number;
  rssMb: number;
}

interface FrameStats {
  origin: number;
  marks: Record<string, number>;
}

const check = (ok: boolean) => (ok ? '✓' : '✗');
const fmt = (n: number) => n.toLocaleString('en-US');

/** The recording, written by glassbox's recorder as a run would write it. */
async function record(file: string): Promise<number> {
  const rec = await openRecorder(file);
  let n = 0;
  for (const e of demoRun({ step: true, extra: SYSCALLS, workload: 'server', pauseMs: 3000 })) {
    rec.sink(e);
    // Let the recorder's writes go out as they would between a run's events.
    if (++n % 10_000 === 0) await nextTurn();
  }
  await rec.close();
  return n;
}

async function waitForFile(file: string, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (fs.existsSync(file) && fs.statSync(file).size > 0) return;
    await sleep(50);
  }
  throw new Error(`${path.basename(file)} was not written in ${timeoutMs / 1000} s`);
}

async function replayOnce(cleanup: Teardown, trace: string, work: string, i: number): Promise<ReplaySample> {
  const stats = path.join(work, `frames-${i}.json`);
  const times = path.join(work, `time-${i}.txt`);
  const marks = { ready: 'PAUSED before pull', loaded: LOADED, end: 'exited 0' };
  const cmd = `${GNU_TIME} -f '%e %M' -o ${times} ${process.execPath} --import ${pathToFileURL(PLAY).href} ${BIN} replay --tui ${trace}; sleep 600`;
  const tm = Tmux.start(cleanup, cmd, { cols: COLS, rows: ROWS, label: 'bench-tui', env: { GLASSBOX_TUI_STATS: stats, GLASSBOX_TUI_MARKS: JSON.stringify(marks) } });
  let seek = 0;
  try {
    if (!/PAUSED before pull/.test(await tm.waitFor(/PAUSED before pull/, 120_000))) throw new Error(`no first screen:\n${tm.screen()}`);
    // The loader draws the header without its … as soon as the last event is in (test/tui.test.ts
    // checks it with no key pressed); keys pressed meanwhile would each cost the loading a frame.
    const loaded = new RegExp(LOADED);
    const until = Date.now() + 300_000;
    while (!loaded.test(tm.screen()) && Date.now() < until) await sleep(100);
    if (!loaded.test(tm.screen())) throw new Error(`the trace did not finish loading:\n${tm.screen()}`);
    seek = Date.now();
    tm.type('G');
    if (!/exited 0/.test(await tm.waitFor(/exited 0/, 120_000))) throw new Error(`G did not reach the end:\n${tm.screen()}`);
    tm.type('q');
    await waitForFile(times, 60_000);
    await waitForFile(stats, 10_000);
  } finally {
    tm.kill();
  }
  const f = JSON.parse(fs.readFileSync(stats, 'utf8')) as FrameStats;
  const [, kb] = fs.readFileSync(times, 'utf8').trim().split('\n').pop()!.split(' ').map(Number) as [number, number];
  for (const m of ['ready', 'loaded', 'end']) if (f.marks[m] === undefined) throw new Error(`no frame showed "${m}"`);
  return { firstMs: f.marks.ready! - f.origin, loadedMs: f.marks.loaded! - f.origin, endMs: f.marks.end! - seek, rssMb: kb / 1024 };
}

async function lagOnce(cleanup: Teardown, work: string, i: number): Promise<LagStats> {
  const stats = path.join(work, `lag-${i}.json`);
  const tm = Tmux.start(cleanup, `${process.execPath} ${PLAY} lag --rate ${RATE} --seconds ${SECONDS} --stats ${stats}; sleep 600`, { cols: COLS, rows: ROWS, label: 'bench-tui-lag' });
  try {
    await waitForFile(stats, (SECONDS + 60) * 1000);
  } finally {
    tm.kill();
  }
  return JSON.parse(fs.readFileSync(stats, 'utf8')) as LagStats;
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

async function main(): Promise<void> {
  ensureTools(['tmux']);
  const runs = runsArg();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'glassbox-bench-tui-'));
  const clean: (() => void)[] = [];
  const cleanup: Teardown = { teardown: (fn) => clean.push(fn) };
  try {
    const traces = [path.join(work, 'big.jsonl'), path.join(work, 'big.jsonl.gz')];
    let events = 0;
    for (const t of traces) events = await record(t);
    const mb = (f: string) => (fs.statSync(f).size / 1e6).toFixed(0);
    console.log(`glassbox replay of a recording of ${fmt(SYSCALLS)} syscalls (${fmt(events)} events: 16 stages with their pauses and snapshots, an HTTP server's loop), ${mb(traces[0]!)} MB as .jsonl, ${mb(traces[1]!)} MB as .jsonl.gz`);
    console.log(`${runs} runs each, median; tmux ${COLS}x${ROWS}; ${os.cpus().length} cores`);

    const results = new Map<string, ReplaySample[]>();
    for (let i = 0; i < runs; i++) {
      for (const t of traces) {
        const name = t.endsWith('.gz') ? '.jsonl.gz' : '.jsonl';
        results.set(name, [...(results.get(name) ?? []), await replayOnce(cleanup, t, work, i)]);
      }
    }
    console.log('\ntrace        first screen (ms)   whole trace loaded (ms)   G to the end (ms)   peak RSS (MB)');
    let worst = { firstMs: 0, loadedMs: 0, rssMb: 0 };
    for (const [name, s] of results) {
      const m = { firstMs: median(s.map((x) => x.firstMs)), loadedMs: median(s.map((x) => x.loadedMs)), endMs: median(s.map((x) => x.endMs)), rssMb: median(s.map((x) => x.rssMb)) };
      worst = { firstMs: Math.max(worst.firstMs, m.firstMs), loadedMs: Math.max(worst.loadedMs, m.loadedMs), rssMb: Math.max(worst.rssMb, m.rssMb) };
      console.log(`${name.padEnd(11)}  ${m.firstMs.toFixed(0).padStart(17)}   ${m.loadedMs.toFixed(0).padStart(23)}   ${m.endMs.toFixed(0).padStart(17)}   ${m.rssMb.toFixed(0).padStart(13)}`);
    }
    console.log(`\nprocess start to the first screen = ${worst.firstMs.toFixed(0)} ms   (target: < ${TARGET.firstMs}) ${check(worst.firstMs < TARGET.firstMs)}`);
    console.log(`process start to the whole trace loaded = ${worst.loadedMs.toFixed(0)} ms   (target: < ${TARGET.loadedMs}) ${check(worst.loadedMs < TARGET.loadedMs)}`);
    console.log(`peak RSS = ${worst.rssMb.toFixed(0)} MB   (target: < ${TARGET.rssMb}) ${check(worst.rssMb < TARGET.rssMb)}`);
    console.log('(the slower of the two formats; each a median)');

    const lags: LagStats[] = [];
    for (let i = 0; i < runs; i++) lags.push(await lagOnce(cleanup, work, i));
    const maxes = lags.map((l) => Math.max(...l.behind));
    const p99s = lags.map((l) => quantile(l.behind, 0.99));
    const warm = lags.map((l) => {
      // From the second second on: the code the first events ran through is compiled by then.
      const frames = l.behind.length / (l.feedMs / 1000);
      return Math.max(...l.behind.slice(Math.ceil(frames)));
    });
    const rate = median(lags.map((l) => l.fed / (l.feedMs / 1000)));
    console.log(`\nlive: ${fmt(RATE)} syscall events a second for ${SECONDS} s into the live TUI's sink (fed at ${fmt(Math.round(rate))}/s), ${runs} runs`);
    console.log(`frames per second: ${median(lags.map((l) => l.frames / (l.feedMs / 1000))).toFixed(1)}; newest request on screen when a frame is written: ${median(lags.map((l) => quantile(l.fresh, 0.5))).toFixed(0)} ms old (median)`);
    console.log(`stream pane behind, sampled at every redraw (ms): max ${Math.max(...maxes).toFixed(0)} (median of runs ${median(maxes).toFixed(0)}), p99 ${median(p99s).toFixed(0)}, median ${median(lags.map((l) => quantile(l.behind, 0.5))).toFixed(0)}; after the first second: max ${Math.max(...warm).toFixed(0)}`);
    console.log(`stream pane never more than ${TARGET.lagMs} ms behind: max ${Math.max(...maxes).toFixed(0)} ms, p99 ${median(p99s).toFixed(0)} ms   (target: <= ${TARGET.lagMs}) ${check(Math.max(...maxes) <= TARGET.lagMs)}`);
  } finally {
    for (const fn of clean) fn();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`bench: ${(e as Error).message}`);
  process.exit(1);
});
