// Dead buffers are freed only by a garbage collection, and V8 starts a
// young-generation collection for buffers alone once 32 MB of them are
// outstanding (twice its default semi-space size, a compile-time constant:
// neither --max-semi-space-size nor a worker's resourceLimits change it).
// A thread that streams a layer allocates a new buffer for every socket read
// and every zlib output and little else, so each such thread carried ~32 MB
// of dead buffers: the most of a pull's peak memory. Collecting the young
// generation every few megabytes keeps that to a few megabytes, for well
// under a millisecond each time (only live objects are copied, and few are).
import v8 from 'node:v8';
import vm from 'node:vm';

/**
 * Bytes of new buffers between two collections. Not too few: a buffer still
 * in use at two collections is moved to the old generation, whose buffers
 * only a full collection frees. A transfer holds ~2 MB on its way (the
 * body's 512 kB batches, gunzip's 512 kB output, the tar parser's queue), a
 * worker two or three transfers. Big fixture, peak RSS, medians of 4-5:
 * 8 MB 135, 4 MB 129, 2 MB 180 (the old generation), 16 MB 155.
 */
const EVERY = 4 << 20;

type Collect = (options: { type: 'minor' }) => void;

let collect: Collect | null | undefined;
let since = 0;

/** The collector V8 exposes to a new context once asked to; null if this V8 will not. */
function collector(): Collect | null {
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc: unknown = vm.runInNewContext('typeof gc === "function" ? gc : undefined');
    return typeof gc === 'function' ? (gc as Collect) : null;
  } catch {
    return null;
  }
}

/** Count n bytes of buffers just allocated by this thread; collect the young generation every EVERY. */
export function buffersAllocated(n: number): void {
  since += n;
  if (since < EVERY) return;
  since = 0;
  if (collect === undefined) collect = collector();
  collect?.({ type: 'minor' });
}
