// The helper protocol's batch command, on the real shim: the commands in
// order, the first failure ends the batch and names its own call, and the
// commands that change who answers are refused.
import t from 'tap';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { LiveHelper } from '../src/runtime/helper/live.js';
import { GlassboxError } from '../src/util/errors.js';

t.test('a batch runs in order and stops at the first failure', async (t) => {
  const dir = mkdtempSync('/tmp/glassbox-batch-');
  const helper = await LiveHelper.start({ stdio: ['ignore', 'ignore', 'ignore'] });
  t.teardown(async () => {
    await helper.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  t.same(await helper.batch([]), [], 'an empty batch sends nothing');
  const ok = await helper.batch([
    { cmd: 'mkdir', path: join(dir, 'a'), mode: 0o755 },
    { cmd: 'mkdir', path: join(dir, 'a', 'b'), mode: 0o755 },
  ]);
  t.same(ok, [{}, {}], 'one reply per command, without the ok');
  t.ok(existsSync(join(dir, 'a', 'b')));

  const err = await helper
    .batch([
      { cmd: 'mkdir', path: join(dir, 'c'), mode: 0o755 },
      { cmd: 'mkdir', path: join(dir, 'missing', 'd'), mode: 0o755 },
      { cmd: 'mkdir', path: join(dir, 'e'), mode: 0o755 },
    ])
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  t.ok(err instanceof GlassboxError, 'the batch fails');
  t.equal((err as GlassboxError).code, 'ENOENT');
  t.match((err as GlassboxError).message, `mkdir ${join(dir, 'missing', 'd')}: No such file or directory`, 'with the failed call, as if it were sent alone');
  t.ok(existsSync(join(dir, 'c')), 'the command before it was done');
  t.notOk(existsSync(join(dir, 'e')), 'the command after it was not');

  // The helper still answers after a failed batch.
  t.same(await helper.batch([{ cmd: 'mkdir', path: join(dir, 'e'), mode: 0o755 }]), [{}]);
});

t.test('fork_init and exec cannot be batched', async (t) => {
  const helper = await LiveHelper.start({ stdio: ['ignore', 'ignore', 'ignore'] });
  t.teardown(() => helper.stop());
  for (const cmd of ['fork_init', 'exec', 'hello'] as const) {
    // Not in the type of a batch item: sent as the shim would get it from a wrong caller.
    const item = { cmd } as unknown as Parameters<LiveHelper['batch']>[0][number];
    await t.rejects(helper.batch([item]), { code: 'EPROTO', message: new RegExp(`not in a batch: ${cmd}`) });
  }
  t.equal(helper.initPid, undefined, 'nothing was forked');
});
