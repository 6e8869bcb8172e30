// Ctrl-C at the pause before each stage of a run, then a check that nothing
// is left: what test/run.test.ts proves of a plain run and
// test/userns.test.ts of a --userns one, in one place.
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Test } from 'tap';
import { stageIds } from '../../src/runtime/stages/index.js';

/** `glassbox --root ROOT run FLAGS --break STAGE busybox true`, interrupted at its pause, for every stage. */
export async function interruptAtEveryStage(t: Test, o: { bin: string; root: string; flags?: string[]; nothingLeft: (t: Test) => void }): Promise<void> {
  for (const stage of stageIds()) {
    const child = spawn(process.execPath, [o.bin, '--root', o.root, 'run', ...(o.flags ?? []), '--break', stage, 'busybox', 'true'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    for (let i = 0; i < 200 && !err.includes('paused before'); i++) await sleep(25);
    t.match(err, new RegExp(`paused before ${stage}`));
    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    t.equal(code, 130, `interrupted at ${stage}`);
    t.match(err, /glassbox: interrupted/);
    o.nothingLeft(t);
  }
}
