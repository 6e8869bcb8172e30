// The glassbox command line: a thin layer over the library. Each action parses
// its flags, calls one library function and prints; errors become one line.
import { Command, CommanderError, Option } from 'commander';
import { describe, GlassboxError } from '../util/errors.js';
import { packageVersion } from '../util/paths.js';
import { imageCommands } from './images.js';
import { containerCommands, lifecycleCommands } from './containers.js';
import { lessonCommand } from './lesson.js';
import { runCommand } from './run.js';
import { traceCommands } from './trace.js';

export interface GlobalOptions {
  root?: string;
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('glassbox')
    .description('A real container runtime built to be watched: pull, unpack, namespaces, cgroups, overlayfs, pivot_root, exec, one visible stage at a time.')
    .version(packageVersion(), '-V, --version')
    .addOption(new Option('--root <dir>', 'state directory (images, layers, containers)').env('GLASSBOX_ROOT').default('/var/lib/glassbox'))
    .showSuggestionAfterError(true)
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ outputError: (s, write) => write(`glassbox: ${s.replace(/^error: /, '').trim()}\n`) });
  imageCommands(program);
  runCommand(program);
  containerCommands(program);
  lifecycleCommands(program);
  traceCommands(program);
  lessonCommand(program);
  return program;
}

/** Run the CLI; returns the exit code instead of exiting, so tests can call it. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    if (isAbort(e)) {
      process.stderr.write('glassbox: interrupted\n');
      return 130;
    }
    process.stderr.write(`glassbox: ${describe(e)}\n`);
    if (process.env.GLASSBOX_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
    return e instanceof GlassboxError && e.exitCode !== undefined ? e.exitCode : 1;
  }
}

export function isAbort(e: unknown): boolean {
  return (e instanceof Error && e.name === 'AbortError') || (e instanceof GlassboxError && e.code === 'EINTR');
}
