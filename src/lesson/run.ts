// A walkthrough, run: its image, command and flags through the same engine
// as `glassbox run`, pausing before its breakpoints, with its note shown at
// each pause, filled with the run's live values. How a pause waits (a prompt,
// a TUI key, nothing at all) is the caller's.
import type { EventSink } from '../events/schema.js';
import { DEMO_IMAGE, ensureDemoImage } from '../image/demo.js';
import type { Store } from '../image/store.js';
import type { RunContext, RunOptions } from '../runtime/context.js';
import { runContainer, type EngineOptions, type RunResult } from '../runtime/engine.js';
import type { Stage } from '../runtime/stage.js';
import { runValues } from './values.js';
import type { Walkthrough } from './walkthrough.js';
import { fillValues } from './walkthrough.js';

export interface WalkthroughRunOptions {
  events?: EventSink;
  /** Shows a note: its stage (undefined for the intro and the closing note), its heading, its text filled. */
  showNote: (stage: string | undefined, heading: string | undefined, text: string) => void;
  /** Waits at a pause once its note is shown; without it, the run never waits (--yes). */
  pause?: EngineOptions['onPause'];
  signal?: AbortSignal;
  /** Carry the program's output through glassbox, for a recording. */
  carryOutput?: RunOptions['carryOutput'];
  trace?: RunOptions['trace'];
  argv?: string[];
}

/** Is this reference the built-in demo, which is made here rather than pulled? */
export function isDemoImage(ref: string | undefined): boolean {
  return ref === undefined || ref === DEMO_IMAGE || ref === 'glassbox/demo' || ref === `docker.io/${DEMO_IMAGE}` || ref === 'docker.io/glassbox/demo';
}

/** The RunOptions a walkthrough stands for (the container is always removed at the end). */
export function walkthroughRunOptions(w: Walkthrough, image: string): RunOptions {
  const f = w.flags;
  return {
    image,
    command: w.command,
    entrypoint: f.entrypoint ? [f.entrypoint] : undefined,
    env: f.env.length ? f.env : undefined,
    workdir: f.workdir,
    hostname: f.hostname,
    user: f.user,
    network: f.network ?? 'none',
    rm: true,
    limits: { memoryBytes: f.memoryBytes, cpus: f.cpus, pidsMax: f.pidsMax },
  };
}

/** Run the walkthrough to its end; the result is the program's, as `glassbox run` reports it. */
export async function runWalkthrough(store: Store, w: Walkthrough, o: WalkthroughRunOptions): Promise<RunResult> {
  const image = isDemoImage(w.image) ? (await ensureDemoImage(store)).name : w.image!;
  o.showNote(undefined, undefined, fillValues(w.intro, { root: store.root }));
  let waiting = Boolean(o.pause);
  const onPause = async (stage: Stage, ctx: RunContext, signal?: AbortSignal, resumed?: Promise<unknown>): Promise<'step' | 'continue'> => {
    const note = w.notes.get(stage.id);
    if (note) o.showNote(stage.id, note.heading, fillValues(note.text, runValues(ctx)));
    if (!waiting || !o.pause) return 'step';
    // "Run to the end" skips the waiting, not the notes: the rest still show.
    if ((await o.pause(stage, ctx, signal, resumed)) === 'continue') waiting = false;
    return 'step';
  };
  const result = await runContainer(
    store,
    { ...walkthroughRunOptions(w, image), carryOutput: o.carryOutput, trace: o.trace ?? 'off' },
    { events: o.events, breakpoints: new Set(w.breakpoints), onPause, signal: o.signal, argv: o.argv },
  );
  return result;
}

/** The closing note, filled: shown by the caller once it has said how the program ended. */
export function closingNote(w: Walkthrough, store: Store, result: RunResult): string | undefined {
  if (!w.after) return undefined;
  const values: Record<string, string> = { root: store.root };
  if (result.ctx.id) values.id = result.ctx.id.slice(0, 12);
  const layers = result.ctx.image?.layers;
  if (layers?.length) values.layerDir = layers[layers.length - 1]!;
  return fillValues(w.after, values);
}
