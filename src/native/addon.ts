// The native addon, found beside the package (native/build/Release). Only the
// modules that wrap kernel areas import this file; stages and views never do.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { packageRoot } from '../util/paths.js';
import { join } from 'node:path';

export interface NativeAddon {
  mknod(path: string, mode: number, major: number, minor: number): void;
  lsetxattr(path: string, name: string, value: Buffer): void;
  lgetxattr(path: string, name: string): Buffer | null;
  llistxattr(path: string): string[];
  flock(fd: number, exclusive: boolean): Promise<void>;
  tryFlock(fd: number, exclusive: boolean): boolean;
  openpty(size?: { rows: number; cols: number }): { master: number; slave: number; path: string };
  setWinsize(fd: number, rows: number, cols: number): void;
}

let cached: NativeAddon | undefined;

export function addon(): NativeAddon {
  if (cached) return cached;
  const file = join(packageRoot(), 'native', 'build', 'Release', 'glassbox.node');
  if (!existsSync(file)) {
    throw new Error(`native addon missing at ${file}: run "npm run build:native"`);
  }
  const require = createRequire(import.meta.url);
  cached = require(file) as NativeAddon;
  return cached;
}
