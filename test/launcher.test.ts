// The glassbox command's code cache (src/cli/bin.ts): the build leaves one
// made by --help, a run writes its own, and a cache V8 will not take is
// rewritten while the command works as ever.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadImages } from '../src/image/interchange.js';
import { Store } from '../src/image/store.js';
import { fixtureImages, repoRoot } from './lib/fixtures.js';

const cli = join(repoRoot(), 'dist/src/cli');
const bin = join(cli, 'bin.js');
const runCache = join(cli, 'glassbox.cjs.cache');
const bundled = existsSync(join(cli, 'glassbox.cjs'));

t.test('the code cache', { skip: bundled ? false : 'dist has no bundle (built by tsc alone, not npm run build:ts)' }, async (t) => {
  t.ok(existsSync(join(cli, 'glassbox.cjs.help-cache')), 'the build made a cache from --help');
  const root = mkdtempSync('/tmp/glassbox-launcher-');
  const kept = existsSync(runCache) ? readFileSync(runCache) : undefined;
  t.teardown(() => {
    rmSync(root, { recursive: true, force: true });
    if (kept) writeFileSync(runCache, kept);
  });
  const store = await Store.open(root);
  await loadImages(store, (await fixtureImages()).layout('busybox'), { name: 'busybox' });

  const garbage = Buffer.from('not a code cache, written by launcher.test');
  writeFileSync(runCache, garbage);
  const v = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  t.equal(v.status, 0, `the command works with a cache V8 refuses: ${v.stderr}`);
  t.match(v.stdout, /\d+\.\d+\.\d+/);

  const r = spawnSync(bin, ['--root', root, 'run', '--rm', 'busybox', 'echo', 'cached'], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  t.equal(r.stdout, 'cached\n');
  const now = readFileSync(runCache);
  t.not(now.equals(garbage), true, 'the run wrote a cache of its own in its place');
  t.ok(now.length > 100_000, `a real one (${now.length} bytes)`);
  const again = spawnSync(bin, ['--root', root, 'run', '--rm', 'busybox', 'echo', 'again'], { encoding: 'utf8' });
  t.equal(again.stdout, 'again\n', 'and the next run works from it');
  t.ok(readFileSync(runCache).equals(now), 'which it leaves as it is');
});
