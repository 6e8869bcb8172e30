// A writer's run on the store (pull, load): the writer lock that keeps gc
// out, a pool of layer threads, and the record of what it committed, undone
// if it fails.
import { LayerPool } from './layerpool.js';
import type { Store } from './store.js';

export interface WriterSession {
  pool: LayerPool;
  /** Blobs and layers this run moved into the store: rolled back on failure. */
  committed: { blobs: string[]; layers: string[] };
}

export async function asWriter<T>(store: Store, fn: (w: WriterSession) => Promise<T>): Promise<T> {
  const lock = await store.writerLock();
  const w: WriterSession = { pool: new LayerPool(), committed: { blobs: [], layers: [] } };
  let failed = false;
  try {
    return await fn(w);
  } catch (e) {
    failed = true;
    // Let go of the writer lock first: rollback waits for every writer, itself included.
    await w.pool.close();
    lock.release();
    await store.rollback(w.committed);
    throw e;
  } finally {
    if (!failed) {
      await w.pool.close();
      lock.release();
    }
  }
}
