import * as fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Test } from 'tap';

/** A fresh temp directory, removed when the test ends. */
export function tmpdir(t: Test, label: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `glassbox-${label}-`));
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}
