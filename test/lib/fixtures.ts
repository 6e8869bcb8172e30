// Test images, built offline by test/fixtures/build-images.sh and cached per
// machine in os.tmpdir()/glassbox-fixtures-<first 12 hex of the script's sha256>.
//
// The cache is built in a scratch directory next to it and renamed into place,
// so a concurrent or interrupted build never leaves a half-built cache behind.

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export type FixtureImage = 'busybox' | 'layered' | 'multiarch' | 'big';

export const FIXTURE_IMAGES: readonly FixtureImage[] = ['busybox', 'layered', 'multiarch', 'big'];

export interface FixtureImages {
  /** The cache directory holding one OCI layout per image. */
  dir: string;
  /** The OCI layout directory of an image; its tag is `latest`. */
  layout(name: FixtureImage): string;
}

let cachedRoot: string | undefined;

/**
 * The repository root: the nearest directory at or above this module holding a
 * package.json whose name is "glassbox" (works from test/lib and dist/test/lib).
 */
export function repoRoot(): string {
  if (cachedRoot !== undefined) return cachedRoot;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        const json = JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown };
        if (json.name === 'glassbox') {
          cachedRoot = dir;
          return dir;
        }
      } catch {
        // not ours, keep walking up
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) {
      throw new Error(`no glassbox package.json above ${fileURLToPath(import.meta.url)}`);
    }
    dir = parent;
  }
}

/** Path of the fixture build script. */
export function buildScript(): string {
  return path.join(repoRoot(), 'test', 'fixtures', 'build-images.sh');
}

let pending: Promise<FixtureImages> | undefined;

/** Builds (once per machine, once per script version) and returns the test images. */
export function fixtureImages(): Promise<FixtureImages> {
  pending ??= build().catch((err: unknown) => {
    pending = undefined;
    throw err;
  });
  return pending;
}

async function build(): Promise<FixtureImages> {
  const script = buildScript();
  const hash = createHash('sha256').update(await readFile(script)).digest('hex').slice(0, 12);
  const base = `glassbox-fixtures-${hash}`;
  const dir = path.join(os.tmpdir(), base);
  const result: FixtureImages = {
    dir,
    layout: (name) => {
      if (!FIXTURE_IMAGES.includes(name)) throw new Error(`unknown fixture image ${String(name)}`);
      return path.join(dir, name);
    },
  };
  if (await isComplete(dir)) return result;

  await removeStaleScratch(base);
  const scratch = await mkdtemp(path.join(os.tmpdir(), `${base}.tmp-`));
  try {
    await run('bash', [script, scratch]);
    for (const name of FIXTURE_IMAGES) {
      if (!existsSync(path.join(scratch, name, 'index.json'))) {
        throw new Error(`${script} did not build ${name}`);
      }
    }
    try {
      await rename(scratch, dir);
    } catch (err) {
      // Someone else finished first: theirs is as good as ours.
      const code = (err as NodeJS.ErrnoException).code;
      if ((code !== 'ENOTEMPTY' && code !== 'EEXIST') || !(await isComplete(dir))) throw err;
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  return result;
}

async function isComplete(dir: string): Promise<boolean> {
  for (const name of FIXTURE_IMAGES) {
    if (!existsSync(path.join(dir, name, 'index.json'))) return false;
  }
  return true;
}

/** Scratch dirs of builds that died more than an hour ago. */
async function removeStaleScratch(base: string): Promise<void> {
  const tmp = os.tmpdir();
  const cutoff = Date.now() - 60 * 60 * 1000;
  for (const entry of await readdir(tmp)) {
    if (!entry.startsWith(`${base}.tmp-`)) continue;
    const p = path.join(tmp, entry);
    try {
      if ((await stat(p)).mtimeMs < cutoff) await rm(p, { recursive: true, force: true });
    } catch {
      // raced with its owner or another cleaner
    }
  }
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      } else {
        resolve(stdout);
      }
    });
  });
}
