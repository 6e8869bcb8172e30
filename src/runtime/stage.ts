// One phase of `glassbox run`. The engine runs stages in the order of
// stages/index.ts, pauses around them, and on failure or Ctrl-C undoes the
// ones that completed, in reverse.
import type { RunContext } from './context.js';

export interface Stage {
  /** 'create', 'ns-uts', 'rootfs', ...; also the lesson's file name (lessons/<id>.md). */
  id: string;
  title: string;
  /** One line: what it is about to do, for the pause prompt. */
  describe(ctx: RunContext): string;
  run(ctx: RunContext): Promise<void>;
  undo?(ctx: RunContext): Promise<void>;
}
