// Cross-process locks with flock(2): held by an open file, dropped by the
// kernel when the holder exits, however it exits. Used for everything two
// glassbox processes may do at once to the shared store.
import * as fs from 'node:fs';
import { addon } from '../native/addon.js';

export interface Lock {
  release(): void;
}

// Waiters in this process queue here, not in flock: a blocked flock holds one
// of libuv's four pool threads, and the process must never block them all.
const local = new Map<string, Promise<void>>();

export async function lockFile(path: string, exclusive = true): Promise<Lock> {
  // Shared holders do not exclude each other, so they need no queue.
  if (!exclusive) return lockFd(path, false, () => {});
  const before = local.get(path) ?? Promise.resolve();
  let releaseLocal!: () => void;
  const mine = new Promise<void>((r) => (releaseLocal = r));
  const tail = before.then(() => mine);
  local.set(path, tail);
  await before;
  const dropLocal = (): void => {
    releaseLocal();
    if (local.get(path) === tail) local.delete(path);
  };
  try {
    return await lockFd(path, exclusive, dropLocal);
  } catch (e) {
    dropLocal();
    throw e;
  }
}

async function lockFd(path: string, exclusive: boolean, onRelease: () => void): Promise<Lock> {
  const fd = fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
  try {
    const fx = addon();
    if (!fx.tryFlock(fd, exclusive)) await fx.flock(fd, exclusive);
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
  let held = true;
  return {
    release() {
      if (!held) return;
      held = false;
      fs.closeSync(fd);
      onRelease();
    },
  };
}

export async function withLock<T>(path: string, fn: () => Promise<T>, exclusive = true): Promise<T> {
  const lock = await lockFile(path, exclusive);
  try {
    return await fn();
  } finally {
    lock.release();
  }
}
