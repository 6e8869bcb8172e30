// src/image/layerpool.ts: a worker runs TRANSFERS_PER_THREAD transfers at
// once; the others wait for a place, and one aborted while it waits fails as
// interrupted without having started.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import t from 'tap';
import tar from 'tar-stream';
import { LayerPool } from '../src/image/layerpool.js';
import { TRANSFERS_PER_THREAD } from '../src/image/limits.js';
import { TransferError } from '../src/image/pipeerror.js';
import { tmpdir } from './lib/tmp.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function tarOf(files: Record<string, string>): Promise<Buffer> {
  const p = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of p as AsyncIterable<Buffer>) chunks.push(Buffer.from(c));
  })();
  for (const [name, body] of Object.entries(files)) p.entry({ name, mode: 0o644, mtime: new Date(1_600_000_000_000) }, body);
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** n gzipped layers as files, each with its digest and diffID. */
async function layers(dir: string, n: number) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const plain = await tarOf({ [`f${i}`]: `layer ${i}\n`.repeat(1000 * (i + 1)) });
    const gz = gzipSync(plain);
    const file = path.join(dir, `l${i}.tar.gz`);
    fs.writeFileSync(file, gz);
    out.push({ file, digest: sha(gz), diffId: sha(plain), name: `f${i}` });
  }
  return out;
}

function transfer(pool: LayerPool, dir: string, l: { file: string; digest: string }, i: number, signal?: AbortSignal) {
  const layerDir = path.join(dir, `unpacked-${i}`);
  fs.mkdirSync(layerDir);
  const blobFile = path.join(dir, `blob-${i}`);
  const run = pool.run({
    job: { compression: 'gzip', algorithm: 'sha256', blobFile, layerDir, stallMs: 30_000 },
    source: { kind: 'file', file: l.file },
    layer: l.digest,
    op: 'pull',
    onBytes: () => {},
    signal,
  });
  return { run, layerDir, blobFile };
}

t.test('more transfers than a worker takes at once all run, each to its own result', async (t) => {
  const dir = tmpdir(t, 'pool');
  const ls = await layers(dir, TRANSFERS_PER_THREAD * 2 + 1);
  const pool = new LayerPool(1);
  t.teardown(() => pool.close());
  const runs = ls.map((l, i) => transfer(pool, dir, l, i));
  const results = await Promise.all(runs.map((r) => r.run));
  results.forEach((r, i) => {
    t.equal(r.digest, ls[i]!.digest, `transfer ${i}: blob digest`);
    t.equal(r.diffId, ls[i]!.diffId, `transfer ${i}: diffID`);
    t.equal(fs.readFileSync(path.join(runs[i]!.layerDir, ls[i]!.name), 'utf8'), `layer ${i}\n`.repeat(1000 * (i + 1)));
    t.equal(sha(fs.readFileSync(runs[i]!.blobFile)), ls[i]!.digest, `transfer ${i}: the blob saved whole`);
  });
});

t.test('a transfer aborted while it waits for a place fails as interrupted, and never starts', async (t) => {
  const dir = tmpdir(t, 'pool');
  const ls = await layers(dir, TRANSFERS_PER_THREAD + 1);
  const pool = new LayerPool(1);
  t.teardown(() => pool.close());
  const running = ls.slice(0, TRANSFERS_PER_THREAD).map((l, i) => transfer(pool, dir, l, i));
  const ac = new AbortController();
  const waiting = transfer(pool, dir, ls[TRANSFERS_PER_THREAD]!, TRANSFERS_PER_THREAD, ac.signal);
  ac.abort();
  await t.rejects(waiting.run, TransferError, 'rejected as a transfer error');
  await t.rejects(waiting.run, { message: 'interrupted' });
  const results = await Promise.all(running.map((r) => r.run));
  results.forEach((r, i) => t.equal(r.diffId, ls[i]!.diffId, `the running transfer ${i} went on`));
  t.notOk(fs.existsSync(waiting.blobFile), 'the waiting transfer made no blob');
});

t.test('closing the pool refuses the transfers still waiting', async (t) => {
  const dir = tmpdir(t, 'pool');
  const ls = await layers(dir, TRANSFERS_PER_THREAD + 1);
  const pool = new LayerPool(1);
  const runs = ls.map((l, i) => transfer(pool, dir, l, i));
  for (const r of runs) r.run.catch(() => {});
  await pool.close();
  await t.rejects(runs[TRANSFERS_PER_THREAD]!.run, { message: 'layer pool is closed' });
});
