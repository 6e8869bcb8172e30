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
  /** tcsetpgrp(fd, getpgrp()), SIGTTOU held off: take the terminal back from a shell that kept it. */
  reclaimTerminal(fd: number): void;
  /** onEvent('syscalls', records, data) in batches; ('exit', {status|signal, execErrno?}) when the helper ends; ('done') when nothing traced is left. */
  HelperProcess: new (o: HelperProcessOptions, onEvent: (kind: 'syscalls' | 'exit' | 'done', a?: unknown, b?: unknown) => void) => HelperProcess;
  /** [read, write], close-on-exec. */
  pipe(): [number, number];
}

/** glassbox-shim, started on the tracer's thread (native/src/tracer.cc). */
export interface HelperProcess {
  readonly pid: number;
  /** Node's end of the control socketpair (the helper has the other as fd 3). */
  readonly controlFd: number;
  setStage(index: number): void;
  /** The stage that begins at the next successful execve: exact, where setStage after the reply would race. */
  setStageOnExec(index: number): void;
}

export interface HelperProcessOptions {
  file: string;
  argv: string[];
  env: string[];
  /** Descriptors that become the helper's 0, 1, 2. */
  fds: number[];
  /** 0 off, 1 every syscall, 2 the lesson set through seccomp-bpf. */
  trace: 0 | 1 | 2;
  capture?: Uint8Array;
  lesson?: number[];
  /** execve and execveat's numbers, for setStageOnExec. */
  execNrs?: number[];
  /** The control socketpair on fd 3 (default true); false for a plain program. */
  control?: boolean;
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
