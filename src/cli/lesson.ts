// glassbox lesson: the classroom walkthroughs. Without a name, the list; with
// one, a run that pauses where the walkthrough says and shows its note there,
// in plain text on stderr beside the stage lines (the program's output stays
// on stdout, as with glassbox run).
import chalk from 'chalk';
import { Option, type Command } from 'commander';
import { stageIds } from '../runtime/stages/index.js';
import type { EventSink } from '../events/schema.js';
import { defaultWalkthroughDir, findWalkthrough, listWalkthroughs, runCommandLine } from '../lesson/walkthrough.js';
import { interruptible, openStore } from './images.js';
import { plainPrinter, renderPlain, rule } from './plain.js';
import { PauseInput, pauser, shellIn } from './run.js';
import { table } from './table.js';

interface LessonFlags {
  yes?: boolean;
  plain?: boolean;
  tui?: boolean;
  record?: string;
  dir?: string;
  trace?: 'full' | 'lesson' | 'off';
}

export function lessonCommand(program: Command): void {
  program
    .command('lesson')
    .description('classroom walkthroughs: a run that pauses where a teacher chose and explains; without a name, the list')
    .argument('[name]', 'the walkthrough to run (glassbox lesson lists them)')
    .option('-y, --yes', 'no pauses: run straight through, printing every note (a dry run)')
    .option('--plain', 'plain lines, not the terminal UI')
    .option('--tui', 'the terminal UI (the default on a terminal)')
    .addOption(new Option('--trace <mode>', 'record syscalls: full, lesson or off (default lesson with --record or the TUI)').choices(['full', 'lesson', 'off']))
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
      // The engine and the image code load only for a run: listing stays quick.
      const { closingNote, runWalkthrough } = await import('../lesson/run.js');
      const store = await openStore(cmd);
      const err = process.stderr;
      const showNote = (stage: string | undefined, heading: string | undefined, text: string) => {
        if (stage === undefined) {
          err.write(`${rule(w.title)}\n${w.summary}\n\n${chalk.dim(`what runs: ${runCommandLine(w)}`)}\n${text ? `\n${renderPlain(text)}\n` : ''}\n`);
          return;
        }
        // In the stream, so a replay shows it at the same pause.
        events({ kind: 'note', t: Date.now(), stage, heading, text });
      };
      const input = new PauseInput();
      const recorder = o.record ? await (await import('../trace/record.js')).openRecorder(o.record) : undefined;
      const useTui = !o.plain && !o.yes && (o.tui || Boolean(process.stdout.isTTY && process.stdin.isTTY));
      const tui = useTui
        ? (await import('../tui/index.js')).startTui({ mode: 'live', stages: stageIds(), breakpoints: new Set(w.breakpoints), shell: (id) => shellIn(cmd, id) })
        : undefined;
      const print = tui ? tui.sink : plainPrinter();
      const events: EventSink = recorder
        ? (e) => {
            recorder.sink(e);
            print(e);
          }
        : print;
      const result = await interruptible((outer) => {
        const ac = new AbortController();
        outer.addEventListener('abort', () => ac.abort(), { once: true });
        void tui?.quit.then(() => ac.abort());
        return runWalkthrough(store, w, {
          events,
          // The TUI shows the stage notes from the stream; the introduction is for the plain view.
          showNote: tui ? (stage, heading, text) => stage !== undefined && showNote(stage, heading, text) : showNote,
          pause: o.yes ? undefined : tui ? (stage, ctx, sig, resumed) => tui.onPause(stage.id, stage.describe(ctx), ctx.id || undefined, sig, resumed) : pauser(input),
          signal: ac.signal,
          carryOutput: tui ? {} : recorder ? { stdout: process.stdout, stderr: process.stderr } : undefined,
          trace: o.trace ?? (recorder || tui ? 'lesson' : 'off'),
          argv: process.argv.slice(2),
        }).finally(async () => {
          input.close();
          await recorder?.close();
        });
      }).catch((e: unknown) => {
        tui?.destroy();
        throw e;
      });
      if (tui) {
        await tui.finished(result.exitCode);
        tui.destroy();
      }
      if (result.ctx.oomKilled) err.write(`glassbox: the kernel's OOM killer ended the program: it used more than the --memory limit (${w.flags.memoryBytes} bytes)\n`);
      err.write(`${chalk.dim(`the program exited with ${result.exitCode}`)}\n`);
      const after = closingNote(w, store, result);
      if (after) err.write(`\n${rule('after the run')}\n${renderPlain(after)}\n`);
      process.exitCode = result.exitCode;
    });
}
