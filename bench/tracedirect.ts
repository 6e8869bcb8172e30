// The tracer alone, on a program run directly (no container): what
// bench/trace.ts times against strace. Every syscall is decoded into an event,
// as in a run, and recorded when a file is given.
//   node dist/bench/tracedirect.js full|lesson [--record FILE] -- PROGRAM ARGS...
import * as fs from 'node:fs';
import type { GlassboxEvent } from '../src/events/schema.js';
import { addon } from '../src/native/addon.js';
import { traceHooks } from '../src/trace/live.js';
import { openRecorder } from '../src/trace/record.js';

const [mode, ...rest] = process.argv.slice(2);
if (mode !== 'full' && mode !== 'lesson') throw new Error('usage: tracedirect full|lesson [--record FILE] -- PROGRAM ARGS...');
const ri = rest.indexOf('--record');
const file = ri >= 0 ? rest[ri + 1] : undefined;
const argv = rest.slice(rest.indexOf('--') + 1);

const recorder = file ? await openRecorder(file) : undefined;
let calls = 0;
const sink = (e: GlassboxEvent) => {
  if (e.kind === 'syscall') calls++;
  recorder?.sink(e);
};
sink({ kind: 'header', schema: 1, glassbox: 'bench', t: Date.now(), host: { kernel: '', arch: process.arch, cgroup: 'none', hostname: '' }, argv, trace: mode, stages: ['direct'] });
const hooks = traceHooks(mode, ['direct'], 'direct', sink);
const status = await new Promise<number>((resolve) => {
  let code = 0;
  new (addon().HelperProcess)(
    { file: argv[0]!, argv, env: ['PATH=/bin:/usr/bin'], fds: [0, 1, 2], trace: mode === 'full' ? 1 : 2, capture: hooks.capture, lesson: hooks.lesson, control: false },
    (kind, a, b) => {
      if (kind === 'syscalls') hooks.onBatch(a as Float64Array, b as Buffer);
      else if (kind === 'exit') code = (a as { status?: number }).status ?? 1;
      else resolve(code);
    },
  );
});
await recorder?.close();
const bytes = file ? fs.statSync(file).size : 0;
process.stderr.write(`${JSON.stringify({ calls, bytes })}\n`);
process.exitCode = status;
