// replay, trace stats, trace export: everything that reads a recording. None
// of it needs root or touches the host: the events are all there is.
import { randomBytes } from 'node:crypto';
import { createWriteStream, readdirSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Option, type Command } from 'commander';
import type { ExitEvent } from '../events/schema.js';
import { GlassboxError } from '../util/errors.js';
import { packageRoot } from '../util/paths.js';
import { oomLine, PAUSE_KEYS, PauseInput, pauseLine, plainPrinter } from './plain.js';

/** Answers typed at pauses: a line, or undefined once input has ended. */
export interface PauseAnswers {
  next(): Promise<string | undefined>;
  close(): void;
}

export interface ReplayOptions {
  /** Pause before every stage. */
  step?: boolean;
  /** Pause before these stages (ids of the recorded run). */
  breaks?: string[];
  /** No stage lines. */
  quiet?: boolean;
  /** Stage lines and pause prompts (stderr). */
  err?: NodeJS.WriteStream;
  /** The program's recorded stdout and stderr. */
  out?: NodeJS.WritableStream;
  outErr?: NodeJS.WritableStream;
  /** Answers at pauses (default: lines on stdin). */
  input?: PauseAnswers;
}

/**
 * Print a recording as the live run printed it in plain mode (stage lines on
 * stderr, the program's output on stdout and stderr), pausing before the
 * stages asked for. Returns the exit code the live run ended with. A broken
 * file throws its GlassboxError after everything readable was printed.
 */
export async function replayTrace(file: string, o: ReplayOptions = {}): Promise<number> {
  const { readTrace } = await import('../trace/read.js');
  const err = o.err ?? process.stderr;
  const print = plainPrinter({ quiet: o.quiet, err, out: o.out ?? process.stdout, outErr: o.outErr ?? process.stderr });
  const input = o.input ?? new PauseInput();
  let pausing: 'all' | Set<string> | undefined = o.step ? 'all' : o.breaks?.length ? new Set(o.breaks) : undefined;
  let exit: ExitEvent | undefined;
  let failure: string | undefined;
  let failureCode: number | undefined;
  try {
    for await (const e of readTrace(file)) {
      if (e.kind === 'header') {
        const unknown = (o.breaks ?? []).filter((b) => !e.stages.includes(b));
        if (unknown.length) throw new GlassboxError(`unknown stage "${unknown[0]}"; this recording's stages: ${e.stages.join(', ')}`, { op: 'replay', code: 'EINVAL' });
      }
      if (e.kind === 'stage' && e.phase === 'begin' && pausing && (pausing === 'all' || pausing.has(e.stage))) {
        err.write(`${pauseLine(e.stage, e.about ?? '', e.id)}${PAUSE_KEYS}`);
        const line = await input.next();
        if (line === undefined || line.trim() === 'c') {
          pausing = undefined;
          input.close();
        }
      }
      print(e);
      if (e.kind === 'exit') exit = e;
      if (e.kind === 'stage' && e.phase === 'failed' && e.error && !e.error.startsWith('undo: ')) {
        failure ??= e.error;
        failureCode ??= e.exitCode;
      }
    }
  } finally {
    input.close();
  }
  if (exit) {
    if (exit.oomKilled) err.write(oomLine(exit.memoryLimit));
    return exit.code;
  }
  if (failure) {
    // What the live run's last line was; an interrupted run said it, and ended with 130.
    const interrupted = /: interrupted$/.test(failure);
    err.write(`glassbox: ${interrupted ? 'interrupted' : failure}\n`);
    return interrupted ? 130 : (failureCode ?? 1);
  }
  throw new GlassboxError('the recording ends before the program did (a run cut short?)', { op: 'replay', subject: file, code: 'ENODATA' });
}

/** The recordings shipped in the package's traces/ directory, by name. */
export function packagedTraces(): string[] {
  const dir = join(packageRoot(), 'traces');
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => /\.jsonl(\.gz)?$/.test(n))
    .sort()
    .map((n) => join(dir, n));
}

/**
 * Text chunks to a file, by temp file and rename (nothing is left if it
 * fails), or to stdout. A reader that goes away (| head) is not an error.
 */
export async function writeChunks(chunks: AsyncIterable<string>, output: string | undefined, op: string): Promise<void> {
  if (output === undefined || output === '-') {
    try {
      await pipeline(Readable.from(chunks), process.stdout, { end: false });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EPIPE') throw e;
    }
    return;
  }
  const tmp = join(dirname(resolve(output)), `.${basename(output)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await pipeline(Readable.from(chunks), createWriteStream(tmp, { flags: 'wx', mode: 0o644 }));
    await rename(tmp, output);
  } catch (e) {
    await rm(tmp, { force: true });
    if (e instanceof GlassboxError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new GlassboxError(code === 'ENOENT' ? `no directory ${dirname(resolve(output))}` : `cannot write it: ${code ?? (e as Error).message}`, { op, subject: output, code, cause: e });
  }
}

export function traceCommands(program: Command): void {
  program
    .command('replay')
    .description("print a recorded run as it printed live, pausing where asked; no root, no host access")
    .argument('[file]', 'a trace file (.jsonl or .jsonl.gz); default: the first recording in the package\'s traces/')
    .option('--step', 'pause before every stage')
    .option('--break <stages>', "pause before these stages (comma separated), as the recording names them")
    .option('-q, --quiet', 'no stage lines')
    .option('--plain', 'plain text on stderr and stdout (the default without a terminal)')
    .option('--tui', 'the terminal UI, with the replay keys (the default on a terminal)')
    .action(async (file: string | undefined, o: { step?: boolean; break?: string; quiet?: boolean; plain?: boolean; tui?: boolean }) => {
      if (file === undefined) {
        file = packagedTraces()[0];
        if (!file) throw new GlassboxError(`no recordings in ${join(packageRoot(), 'traces')}: name a trace file (glassbox run --record FILE makes one)`, { op: 'replay', code: 'ENOENT' });
      }
      const breaks = o.break ? o.break.split(',').map((s) => s.trim()).filter(Boolean) : [];
      if (!o.plain && (o.tui || (process.stdout.isTTY && process.stdin.isTTY && !o.quiet))) {
        const [{ replayTui }, { readTrace }] = await Promise.all([import('../tui/index.js'), import('../trace/read.js')]);
        // Without --step or --break it stops where the recorded run paused.
        process.exitCode = await replayTui(readTrace(file), { breakpoints: o.step ? 'all' : breaks.length ? new Set(breaks) : undefined });
        return;
      }
      process.exitCode = await replayTrace(file, { step: o.step, breaks, quiet: o.quiet });
    });

  const trace = program.command('trace').description('read recorded traces: syscall statistics, export for Perfetto or as strace text');

  trace
    .command('stats')
    .description('per stage, syscalls by time, calls and errors (strace -c), and the slowest calls')
    .argument('<file>', 'a trace file')
    .action(async (file: string) => {
      const { readTrace } = await import('../trace/read.js');
      const { formatStats, statsBuilder } = await import('../trace/stats.js');
      const b = statsBuilder();
      let broken: GlassboxError | undefined;
      try {
        for await (const e of readTrace(file)) b.addEvent(e);
      } catch (e) {
        if (!(e instanceof GlassboxError)) throw e;
        broken = e;
      }
      // The part that was readable is still worth reading.
      process.stdout.write(formatStats(b.result()));
      if (broken) throw broken;
    });

  trace
    .command('export')
    .description('write a trace as Chrome Trace Event JSON (ui.perfetto.dev, chrome://tracing) or as strace -f -tt -T text')
    .argument('<file>', 'a trace file')
    .addOption(new Option('--format <format>', 'perfetto or strace').choices(['perfetto', 'strace']).makeOptionMandatory())
    .option('-o, --output <file>', 'write here (default: stdout)')
    .action(async (file: string, o: { format: 'perfetto' | 'strace'; output?: string }) => {
      const { readTrace } = await import('../trace/read.js');
      const chunks =
        o.format === 'perfetto' ? (await import('../trace/export/perfetto.js')).perfettoJson(readTrace(file)) : (await import('../trace/export/strace.js')).straceText(readTrace(file));
      await writeChunks(chunks, o.output, 'export');
    });
}
