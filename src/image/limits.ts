/**
 * Layers transferred at once. Docker downloads 3 at once and unpacks one at
 * a time; glassbox unpacks as it downloads, so a layer of many small files
 * need not wait behind large ones.
 */
export const DEFAULT_CONCURRENCY = 6;

/**
 * Layer worker threads at most, however many cores: each costs ~35 MB while
 * it streams (its isolate ~10 MB, its heap ~16 MB, buffers in flight), and a
 * pull keeps under 150 MB with the main thread's ~50 MB and two of them. A
 * worker runs several transfers at once, and gunzip runs on libuv's threads,
 * so two workers still keep more than two cores busy.
 */
export const MAX_LAYER_THREADS = 2;
