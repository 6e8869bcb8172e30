/**
 * Layers transferred at once, each in its own worker thread. Docker
 * downloads 3 at once and unpacks one at a time; glassbox unpacks as it
 * downloads, so a layer of many small files need not wait behind large ones.
 */
export const DEFAULT_CONCURRENCY = 6;
