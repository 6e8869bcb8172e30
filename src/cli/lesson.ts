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
import { oomLine, plainPrinter, renderPlain, rule } from './plain.js';
import { PauseInput, pauser, shellIn } from './run.js';
import { table } from './table.js';
import { GlassboxError } from '../util/errors.js';

interface LessonFlags {
  yes?: boolean;
  plain?: boolean;
  tui?: boolean;
  record?: string;
  dir?: string;
  trace?: 'full' | 'lesson' | 'off';
  read?: string;
}

/** The lessons that are not one stage's: read before a run. */
const OVERVIEWS = ['images', 'namespaces', 'cgroups', 'tracing'];

/** An overview or stage lesson, rendered for this terminal as the TUI renders it; its placeholders stay as they are. */
async function readLesson(topic: string): Promise<string> {
  const { defaultLessonsDir, lessonSource, renderLesson } = await import('../tui/lesson.js');
  const { makeTheme } = await import('../tui/theme.js');
  const lessonsDir = defaultLessonsDir();
  const md = /^[a-z][a-z0-9_-]*$/.test(topic) ? lessonSource(lessonsDir, topic) : null;
  if (md === null) {
    const known = [...OVERVIEWS, ...stageIds()];
    throw new GlassboxError(`no lesson "${topic}"; lessons: ${known.join(', ')}`, { op: 'lesson', code: 'ENOENT' });
  }
  const color = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
  const width = Math.max(40, Math.min(process.stdout.columns ?? 80, 100));
  return renderLesson(md, {}, width, makeTheme(color));
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
    .option('--read <topic>', 'print an overview lesson instead: images (containers, images, Docker), namespaces, cgroups, tracing; or a stage id')
    .option('--dir <dir>', 'read walkthroughs from this directory (default: lessons/walkthroughs of glassbox)')
    .action(async (name: string | undefined, o: LessonFlags, cmd: Command) => {
      const dir = o.dir ?? defaultWalkthroughDir();
      if (o.read) {
        process.stdout.write(await readLesson(o.read));
        return;
      }
      if (!name) {
        const all = listWalkthroughs(dir);
        process.stdout.write(table([['NAME', 'TITLE', 'SUMMARY'], ...all.map((w) => [w.name, w.title, w.summary])]));
        process.stderr.write(`\nglassbox lesson NAME runs one. To read first: glassbox lesson --read ${OVERVIEWS.join('|')} (or a stage id)\n`);
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
      if (result.ctx.oomKilled) err.write(oomLine(result.ctx.options.limits?.memoryBytes));
      err.write(`${chalk.dim(`the program exited with ${result.exitCode}`)}\n`);
      const after = closingNote(w, store, result);
      if (after) err.write(`\n${rule('after the run')}\n${renderPlain(after)}\n`);
      process.exitCode = result.exitCode;
    });
}
