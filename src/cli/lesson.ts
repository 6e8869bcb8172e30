// glassbox lesson: the classroom walkthroughs. Without a name, the list; with
// one, a run that pauses where the walkthrough says and shows its note there,
// in plain text on stderr beside the stage lines (the program's output stays
// on stdout, as with glassbox run).
import chalk from 'chalk';
import type { Command } from 'commander';
import type { EventSink } from '../events/schema.js';
import { closingNote, runWalkthrough } from '../lesson/run.js';
import { defaultWalkthroughDir, findWalkthrough, listWalkthroughs, runCommandLine } from '../lesson/walkthrough.js';
import { interruptible, openStore } from './images.js';
import { plainPrinter } from './plain.js';
import { PauseInput, pauser } from './run.js';
import { table } from './table.js';

interface LessonFlags {
  yes?: boolean;
  plain?: boolean;
  record?: string;
  dir?: string;
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

function rule(label: string): string {
  const width = Math.max(40, Math.min(process.stderr.columns ?? 80, 100));
  const head = `── ${label} `;
  return chalk.yellow(head + '─'.repeat(Math.max(3, width - head.length)));
}

export function lessonCommand(program: Command): void {
  program
    .command('lesson')
    .description('classroom walkthroughs: a run that pauses where a teacher chose and explains; without a name, the list')
    .argument('[name]', 'the walkthrough to run (glassbox lesson lists them)')
    .option('-y, --yes', 'no pauses: run straight through, printing every note (a dry run)')
    .option('--plain', 'plain text on the terminal (the only view so far)')
    .option('--record <file>', 'write the whole event stream to this file (JSON Lines; gzip if it ends in .gz), for glassbox replay')
    .option('--dir <dir>', 'read walkthroughs from this directory (default: lessons/walkthroughs of glassbox)')
    .action(async (name: string | undefined, o: LessonFlags, cmd: Command) => {
      const dir = o.dir ?? defaultWalkthroughDir();
      if (!name) {
        const all = listWalkthroughs(dir);
        process.stdout.write(table([['NAME', 'TITLE', 'SUMMARY'], ...all.map((w) => [w.name, w.title, w.summary])]));
        return;
      }
      const w = findWalkthrough(name, dir);
      const store = await openStore(cmd);
      const err = process.stderr;
      const showNote = (stage: string | undefined, heading: string | undefined, text: string) => {
        if (stage === undefined) {
          err.write(`${rule(w.title)}\n${w.summary}\n\n${chalk.dim(`what runs: ${runCommandLine(w)}`)}\n${text ? `\n${renderPlain(text)}\n` : ''}\n`);
          return;
        }
        err.write(`${rule(`at ${stage}${heading ? `: ${heading}` : ''}`)}\n${renderPlain(text)}\n\n`);
      };
      const input = new PauseInput();
      const recorder = o.record ? await (await import('../trace/record.js')).openRecorder(o.record) : undefined;
      const print = plainPrinter();
      const events: EventSink = recorder
        ? (e) => {
            recorder.sink(e);
            print(e);
          }
        : print;
      const result = await interruptible((signal) =>
        runWalkthrough(store, w, {
          events,
          showNote,
          pause: o.yes ? undefined : pauser(input),
          signal,
          carryOutput: recorder ? { stdout: process.stdout, stderr: process.stderr } : undefined,
          trace: recorder ? 'lesson' : 'off',
          argv: process.argv.slice(2),
        }).finally(async () => {
          input.close();
          await recorder?.close();
        }),
      );
      if (result.ctx.oomKilled) err.write(`glassbox: the kernel's OOM killer ended the program: it used more than the --memory limit (${w.flags.memoryBytes} bytes)\n`);
      err.write(`${chalk.dim(`the program exited with ${result.exitCode}`)}\n`);
      const after = closingNote(w, store, result);
      if (after) err.write(`\n${rule('after the run')}\n${renderPlain(after)}\n`);
      process.exitCode = result.exitCode;
    });
}
