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
 * worker runs TRANSFERS_PER_THREAD transfers at once, and gunzip runs on
 * libuv's threads, so two workers still keep more than two cores busy.
 */
export const MAX_LAYER_THREADS = 2;

/**
 * Transfers a layer worker runs at once; the others wait for a place. Its
 * transfers share one JavaScript thread, and with the body passed on in
 * 512 kB batches one transfer keeps that thread busy (a single stream of the
 * big fixture: 290 MB/s), so a third at once only held more buffers: on the
 * big fixture, 5 runs each, no limit (3 at once on one worker) 0.64 s, 0.92
 * CPU-s, peak RSS 130 MB; two 0.63 s, 0.90, 126 MB; one 0.64 s, 0.91, 120 MB.
 * Two, not one, so that four downloads overlap when a registry is far away
 * (docker runs three). It also bounds memory by the pool, not by the number
 * of layers an image has.
 */
export const TRANSFERS_PER_THREAD = 2;
