// What test/lessons.test.ts needs to try a stage lesson's "Try it" commands at
// its pause, as a student would in a second terminal: the lesson's sections and
// blocks, a `glassbox run` driven through its pauses on piped stdin, the values
// the TUI would fill in at a pause (folded from the --record trace by the TUI's
// own Model), and a bash that runs a block and says which command failed.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { tryItBlocks } from '../../src/lesson/walkthrough.js';
import type { GlassboxEvent } from '../../src/events/schema.js';
import { stageIds } from '../../src/runtime/stages/index.js';
import { readTrace } from '../../src/trace/read.js';
import { Model } from '../../src/tui/model.js';

/**
 * Every name src/tui/model.ts placeholders() can fill. The test checks this
 * list against the Model itself (a stream that knows everything fills exactly
 * these), so a new value there shows up here.
 */
export const KNOWN_PLACEHOLDERS = ['id', 'pid', 'cgroup', 'root', 'merged', 'layerDir', 'registry', 'repository', 'tag', 'manifestDigest'] as const;

export interface Block {
  /** The block's text, placeholders unfilled. */
  code: string;
  /** Line of the lesson file its first command is on (1-based). */
  line: number;
}

/** The ```sh blocks of the lesson's "## Try it" section (up to the next level-2 heading), with their lines in the file. */
export function tryItSection(md: string): Block[] | undefined {
  const lines = md.split('\n');
  const start = lines.findIndex((l) => /^##\s+Try it\s*$/i.test(l));
  if (start < 0) return undefined;
  let end = lines.findIndex((l, i) => i > start && /^##\s/.test(l));
  if (end < 0) end = lines.length;
  const section = lines.slice(start, end).join('\n');
  // tryItBlocks numbers lines within what it is given: the section starts at line start+1.
  return tryItBlocks(section).map((b) => ({ code: b.code, line: b.line + start }));
}

/** {{name}} -> value where there is one. */
export function fill(code: string, values: Record<string, string>): string {
  return code.replace(/\{\{(\w+)\}\}/g, (all, name: string) => values[name] ?? all);
}

export function placeholdersOf(code: string): string[] {
  return [...new Set([...code.matchAll(/\{\{(\w+)\}\}/g)].map((m) => m[1]!))];
}

export interface Failure {
  /** Line within the block (1-based). */
  line: number;
  /** The block's text at that line, filled. */
  command: string;
  rc: number;
  /** What the commands of that line wrote to stderr. */
  stderr: string;
  /** The lesson marks the command as one that fails on purpose. */
  expected: boolean;
}

export interface BlockResult {
  failures: Failure[];
  /** Lines marked as failing on purpose that did not fail. */
  unexpectedSuccess: number[];
  stdout: string;
  stderr: string;
  /** Exit status of bash itself (not of the commands: it goes on after a failure). */
  status: number | null;
  timedOut: boolean;
}

/**
 * Lines a lesson marks as failing on purpose: the command line after a comment
 * that says "expected to fail" or "this fails", or one ending in "# fails".
 * No stage lesson uses it today; it is here so a lesson can.
 */
export function expectedFailures(code: string): Set<number> {
  const out = new Set<number>();
  const lines = code.split('\n');
  let marked = false;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!.trim();
    if (/^#/.test(l)) {
      if (/expected to fail|this fails|fails on purpose/i.test(l)) marked = true;
      continue;
    }
    if (!l) continue;
    if (marked || /#\s*(fails|expected to fail)\s*$/i.test(l)) out.add(i + 1);
    marked = false;
  }
  return out;
}

const LINE_MARK = '\u0001GBLINE ';
const FAIL_MARK = '\u0001GBFAIL ';
const HEADER = [
  // pipefail: `curl ... | jq .` must not hide a curl that failed; -E: a failure inside $(...) counts too.
  'set -E -o pipefail',
  `trap 'printf "\\n${LINE_MARK}%s\\n" "$((LINENO - 3))" >&2' DEBUG`,
  `trap '__gb_rc=$?; printf "\\n${FAIL_MARK}%s %s\\n" "$((LINENO - 3))" "$__gb_rc" >&2' ERR`,
];

/**
 * Run a filled block in one bash, so its commands share variables as they do
 * typed into one terminal. bash goes on after a failing command (no -e: every
 * command is tried), and an ERR trap notes each failing one by its line.
 */
export async function runBlock(code: string, env: NodeJS.ProcessEnv, cwd: string, timeoutMs = 60_000): Promise<BlockResult> {
  const script = `${HEADER.join('\n')}\n${code}\n`;
  const child = spawn('bash', ['-c', script], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  const status = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  clearTimeout(timer);
  const lines = code.split('\n');
  const expected = expectedFailures(code);
  // stderr, attributed to the line that was running when it was written.
  const byLine = new Map<number, string[]>();
  const failed = new Map<number, number>();
  let current = 0;
  const plain: string[] = [];
  for (const l of stderr.split('\n')) {
    if (l.startsWith(LINE_MARK)) {
      current = Number(l.slice(LINE_MARK.length));
      continue;
    }
    if (l.startsWith(FAIL_MARK)) {
      const [line, rc] = l.slice(FAIL_MARK.length).split(' ').map(Number);
      // The first failure of a line is its cause: one inside $(...) comes before the assignment's.
      if (!failed.has(line!)) failed.set(line!, rc!);
      continue;
    }
    if (!l) continue;
    plain.push(l);
    const list = byLine.get(current) ?? [];
    list.push(l);
    byLine.set(current, list);
  }
  const failures: Failure[] = [...failed].map(([line, rc]) => ({
    line,
    command: lines[line - 1] ?? `(line ${line})`,
    rc,
    stderr: (byLine.get(line) ?? []).join('\n'),
    expected: expected.has(line),
  }));
  const unexpectedSuccess = [...expected].filter((l) => !failed.has(l));
  return { failures, unexpectedSuccess, stdout, stderr: plain.join('\n'), status, timedOut };
}

export interface Pause {
  stage: string;
  /** The short id the prompt names, from the spawn pause on. */
  id?: string;
  /** Which pause of the run this is, from 0. */
  index: number;
}

/** A `glassbox run` in plain mode, its pauses answered on stdin as a student answers them. */
export class PausedRun {
  readonly child: ChildProcessWithoutNullStreams;
  out = '';
  err = '';
  code: number | null | undefined;
  signal: NodeJS.Signals | null = null;
  readonly exited: Promise<number | null>;
  private seen = 0;

  constructor(command: string, args: string[], env: NodeJS.ProcessEnv) {
    this.child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env });
    this.child.stdout.on('data', (d) => (this.out += d));
    this.child.stderr.on('data', (d) => (this.err += d));
    this.exited = new Promise((resolve) =>
      this.child.on('exit', (c, s) => {
        this.code = c;
        this.signal = s;
        resolve(c);
      }),
    );
  }

  /** The next pause not yet answered, or undefined once the run has ended without another. */
  async nextPause(timeoutMs = 60_000): Promise<Pause | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const prompts = [...this.err.matchAll(/paused before (\S+): [^\n]*?(?:\(glassbox inspect\|shell\|resume ([0-9a-f]{12})\))?\n {2}Enter: next stage/g)];
      if (prompts.length > this.seen) {
        const [, stage, id] = prompts[this.seen]!;
        return { stage: stage!, id, index: this.seen++ };
      }
      if (this.code !== undefined) return undefined;
      if (Date.now() > deadline) throw new Error(`no pause and no exit in ${timeoutMs} ms; stderr so far:\n${this.err}`);
      await sleep(20);
    }
  }

  answer(line = ''): void {
    this.child.stdin.write(`${line}\n`);
  }

  /** Wait for the end; kill it (SIGINT, then SIGKILL) if it takes longer than timeoutMs. */
  async finish(timeoutMs = 60_000): Promise<number | null> {
    const timer = setTimeout(() => {
      this.child.kill('SIGINT');
      setTimeout(() => this.child.kill('SIGKILL'), 10_000).unref();
    }, timeoutMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}

/** The events of a trace that is still being written: those on complete lines. */
async function eventsSoFar(file: string): Promise<GlassboxEvent[]> {
  const out: GlassboxEvent[] = [];
  if (!fs.existsSync(file)) return out;
  try {
    for await (const e of readTrace(file)) out.push(e);
  } catch {
    // a line cut off at the end, or no header yet: what came before is good
  }
  return out;
}

export interface PauseValues {
  /** What model.placeholders() gave with every event up to this pause folded in. */
  values: Record<string, string>;
  /** The snapshot taken at this pause, if the run had an id (as the TUI got it). */
  snapshot?: Extract<GlassboxEvent, { kind: 'snapshot' }>['snapshot'];
}

/**
 * The placeholders the TUI's lesson pane fills at the pause'th pause of a
 * recorded run: the trace read up to that pause's "paused" event and, when the
 * run had an id by then, the snapshot glassbox takes right after it (a
 * snapshot reaches the file on the recorder's next flush, within a second);
 * folded into a fresh Model, as the TUI folds the live stream.
 */
export async function valuesAtPause(trace: string, pause: Pause, timeoutMs = 10_000): Promise<PauseValues> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const events = await eventsSoFar(trace);
    let n = -1;
    let at = -1;
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      if (e.kind === 'stage' && e.phase === 'paused' && ++n === pause.index) {
        at = i;
        break;
      }
    }
    if (at >= 0) {
      const paused = events[at] as Extract<GlassboxEvent, { kind: 'stage' }>;
      if (paused.stage !== pause.stage) throw new Error(`pause ${pause.index} is ${pause.stage} on stderr but ${paused.stage} in the trace`);
      let upTo = at;
      let snapshot: PauseValues['snapshot'];
      if (paused.id) {
        const s = events.findIndex((e, i) => i > at && e.kind === 'snapshot' && e.snapshot.stage === pause.stage);
        upTo = s;
        if (s >= 0) snapshot = (events[s] as Extract<GlassboxEvent, { kind: 'snapshot' }>).snapshot;
      }
      if (upTo >= 0) {
        const model = new Model(stageIds());
        for (const e of events.slice(0, upTo + 1)) model.apply(e);
        return { values: model.placeholders(), snapshot };
      }
    }
    if (Date.now() > deadline) throw new Error(`the trace ${trace} has no ${pause.stage} pause (and its snapshot) after ${timeoutMs} ms`);
    await sleep(50);
  }
}
