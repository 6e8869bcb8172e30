// The plain view: what `glassbox run` prints without the TUI, and what
// `glassbox replay` prints from a trace file. It reads the event stream and
// nothing else, so a replay prints what the live run printed.
import { createInterface, type Interface } from 'node:readline';
import chalk from 'chalk';
import type { GlassboxEvent } from '../events/schema.js';
import { assertNever } from '../events/schema.js';
import { PullProgress } from './pullprogress.js';

export interface PlainOptions {
  /** No stage lines (--quiet). */
  quiet?: boolean;
  /** Where stage lines go: stderr, as docker run's progress does. */
  err?: NodeJS.WriteStream;
  /** Where recorded program output goes; undefined when the program writes to the terminal itself (a live run). */
  out?: NodeJS.WritableStream;
  /** Print the recorded output chunks of stderr here. */
  outErr?: NodeJS.WritableStream;
}

/** "✓ ns-uts       0 ms": one line per stage on stderr, a pull's progress, and the program's recorded output. */
export function plainPrinter(o: PlainOptions = {}): (e: GlassboxEvent) => void {
  const err = o.err ?? process.stderr;
  const began = new Map<string, number>();
  const pull = new PullProgress(err);
  return (e) => {
    switch (e.kind) {
      case 'output':
        if (e.stream === 'stdout') o.out?.write(e.data);
        else o.outErr?.write(e.data);
        return;
      case 'host':
        if (!o.quiet) pull.handle(e);
        return;
      case 'stage':
        if (o.quiet) return;
        if (e.phase === 'begin') began.set(e.stage, e.t);
        if (e.phase === 'end') err.write(chalk.dim(`${chalk.green('✓')} ${e.stage.padEnd(11)} ${(e.t - (began.get(e.stage) ?? e.t)).toString().padStart(4)} ms\n`));
        if (e.phase === 'failed') err.write(`${chalk.red('✗')} ${e.stage}\n`);
        if (e.phase === 'undone') err.write(chalk.dim(`↩ ${e.stage} undone\n`));
        return;
      case 'note':
        err.write(`${rule(`at ${e.stage}${e.heading ? `: ${e.heading}` : ''}`)}\n${renderPlain(e.text)}\n\n`);
        return;
      case 'header':
      case 'snapshot':
      case 'syscall':
      case 'exit':
        return;
      default:
        assertNever(e);
    }
  };
}

/** A note's markdown as terminal text: fences dropped and code indented, headings bold, the rest as written. */
export function renderPlain(md: string): string {
  const out: string[] = [];
  let inCode = false;
  for (const l of md.split('\n')) {
    if (/^\s*(```|~~~)/.test(l)) {
      inCode = !inCode;
      continue;
    }
    if (inCode) out.push(l.trim() ? chalk.cyan(`    ${l}`) : '');
    else if (/^#{1,6}\s/.test(l)) out.push(chalk.bold(l.replace(/^#+\s+/, '')));
    else out.push(l);
  }
  return out.join('\n');
}

/** "── at ns-uts ─────": a walkthrough's section line. */
export function rule(label: string): string {
  const width = Math.max(40, Math.min(process.stderr.columns ?? 80, 100));
  const head = `── ${label} `;
  return chalk.yellow(head + '─'.repeat(Math.max(3, width - head.length)));
}

/** What a run says when the OOM killer ended its program: live, in a walkthrough, and replayed. */
export function oomLine(memoryLimit: number | undefined): string {
  return `glassbox: the kernel's OOM killer ended the program: it used more than the --memory limit (${memoryLimit} bytes)\n`;
}

/** The pause prompt's first line, live and replayed: "paused before ns-uts: unshare(CLONE_NEWUTS): ...". */
export function pauseLine(stage: string, about: string, id?: string): string {
  const where = id ? ` (glassbox inspect|shell|resume ${id.slice(0, 12)})` : '';
  return `${chalk.yellow('paused')} before ${chalk.bold(stage)}: ${about}${where}\n`;
}

export const PAUSE_KEYS = '  Enter: next stage, c then Enter: run to the end > ';

/**
 * Lines typed at pauses. One reader for the whole run: a reader per pause
 * would lose the lines it had buffered when it closed.
 */
export class PauseInput {
  private readonly lines: string[] = [];
  private waiter: ((line: string | undefined) => void) | undefined;
  private ended = false;
  private rl: Interface | undefined;

  next(signal?: AbortSignal): Promise<string | undefined> {
    if (!this.rl) {
      this.rl = createInterface({ input: process.stdin, terminal: false });
      this.rl.on('line', (l) => (this.waiter ? this.take(l) : this.lines.push(l)));
      this.rl.on('close', () => {
        this.ended = true;
        this.take(undefined);
      });
    }
    this.rl.resume();
    if (this.lines.length) return Promise.resolve(this.lines.shift());
    if (this.ended) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const onAbort = () => this.take(undefined);
      this.waiter = (line) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(line);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private take(line: string | undefined): void {
    const w = this.waiter;
    this.waiter = undefined;
    this.rl?.pause();
    w?.(line);
  }

  close(): void {
    // Only if it read stdin: the TUI reads it too, and a paused stdin would let the process end under it.
    if (!this.rl) return;
    this.rl.close();
    process.stdin.pause();
  }
}
