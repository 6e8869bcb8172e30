// pull under faults: corrupted, truncated, slow and stalled bodies, 5xx and
// 429 answers, odd manifests, redirects to another origin, basic and token
// auth, multi-platform indexes, concurrent pulls into one store, the CLI's
// one-line errors, and Ctrl-C. After every failure the store must hold nothing
// of the failed pull; after every success, whole and verified content.

import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isAbort, main } from '../src/cli/main.js';
import type { GlassboxEvent } from '../src/events/schema.js';
import { hostPlatform } from '../src/image/platform.js';
import { pull, type PullOptions, type PullResult } from '../src/image/pull.js';
import type { RetryPolicy } from '../src/image/registry.js';
import { Store } from '../src/image/store.js';
import { describe, GlassboxError } from '../src/util/errors.js';
import { startFaultProxy, type FaultProxy, type LogEntry } from './lib/faultproxy.js';
import { fixtureImages, type FixtureImage, type FixtureImages } from './lib/fixtures.js';
import { startRegistry, type Registry } from './lib/registry.js';
import { startTokenServer } from './lib/tokenserver.js';

/** The CLI compiled with this test, wherever that is (dist/, or a private out dir). */
const CLI_BIN = fileURLToPath(new URL('../src/cli/bin.js', import.meta.url));

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

const USER = 'glassbox';
const PASSWORD = 'hunter2-but-longer';
const RETRY: RetryPolicy = { retries: 3, baseDelayMs: 20, maxDelayMs: 100, maxRetryAfterMs: 5000 };
const STALL_MS = 500;
const OPTS: PullOptions = { retry: RETRY, stallTimeoutMs: STALL_MS };

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// fixtures and servers shared by the tests

let fx: FixtureImages;
let plain: Registry;
let authed: Registry;

interface Desc { digest: string; size: number }
interface LayoutManifest { config: Desc; layers: Desc[] }

/** The tagged manifest of a single-platform fixture layout (as pushed, digests unchanged). */
async function layoutManifest(name: FixtureImage): Promise<LayoutManifest> {
  const dir = fx.layout(name);
  const index = JSON.parse(await readFile(path.join(dir, 'index.json'), 'utf8')) as { manifests: Desc[] };
  const hex = index.manifests[0]!.digest.split(':')[1]!;
  return JSON.parse(await readFile(path.join(dir, 'blobs', 'sha256', hex), 'utf8')) as LayoutManifest;
}

t.before(async () => {
  fx = await fixtureImages();
  plain = await startRegistry();
  t.teardown(() => plain.stop());
  authed = await startRegistry({ htpasswd: { user: USER, password: PASSWORD } });
  t.teardown(() => authed.stop());
  await plain.push(fx.layout('busybox'), 'library/busybox:latest');
  await plain.push(fx.layout('layered'), 'test/layered:latest');
  await plain.push(fx.layout('multiarch'), 'test/multiarch:latest', { all: true });
  await authed.push(fx.layout('busybox'), 'library/busybox:latest');
});

// ---------------------------------------------------------------------------------------------
// helpers

interface TimedProxy extends FaultProxy {
  /** when each log entry was made (request arrival) */
  at(e: LogEntry): number;
}

async function proxyFor(t: Test, upstream: string): Promise<TimedProxy> {
  const proxy = await startFaultProxy(upstream);
  t.teardown(() => proxy.stop());
  const times = new WeakMap<LogEntry, number>();
  const push = proxy.log.push.bind(proxy.log);
  proxy.log.push = (...items: LogEntry[]): number => {
    for (const i of items) times.set(i, Date.now());
    return push(...items);
  };
  return Object.assign(proxy, { at: (e: LogEntry) => times.get(e) ?? NaN });
}

async function tempDir(t: Test, prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function freshStore(t: Test): Promise<Store> {
  return Store.open(await tempDir(t, 'glassbox-pullfaults-'));
}

const pathOf = (e: LogEntry): string => e.path.split('?')[0]!;

/** GET entries for a blob, on the registry's own port (or the blob store), optionally with one status. */
function blobGets(proxy: FaultProxy, digest: string, o: { status?: number; via?: LogEntry['via'] } = {}): LogEntry[] {
  return proxy.log.filter(
    (e) => e.method === 'GET' && e.via === (o.via ?? 'proxy') && pathOf(e).endsWith(`/blobs/${digest}`) && (o.status === undefined || e.status === o.status),
  );
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

const blobRule = (digest: string): RegExp => new RegExp(`^GET /v2/.+/blobs/${escapeRe(digest)}$`);

async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  return undefined;
}

/** The pull failed with one GlassboxError whose user-facing line matches. */
function assertOneLine(t: Test, err: unknown, re: RegExp, what: string): string {
  t.ok(err !== undefined, `${what}: the pull failed`);
  t.ok(err instanceof GlassboxError, `${what}: a GlassboxError (got ${String(err)})`);
  const line = describe(err);
  t.notMatch(line, /\n/, `${what}: one line`);
  t.match(line, re, `${what}: "${line}"`);
  return line;
}

function sha(data: Buffer, algorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}

interface Snapshot { blobs: string[]; layers: string[]; images: string[] }
const EMPTY: Snapshot = { blobs: [], layers: [], images: [] };

function listBlobs(root: string): string[] {
  const out: string[] = [];
  for (const alg of ['sha256', 'sha512']) {
    const dir = path.join(root, 'blobs', alg);
    if (!fs.existsSync(dir)) continue;
    for (const hex of fs.readdirSync(dir)) out.push(`${alg}:${hex}`);
  }
  return out.sort();
}

function listLayers(root: string): string[] {
  const dir = path.join(root, 'layers', 'sha256');
  return fs.existsSync(dir) ? fs.readdirSync(dir).map((h) => `sha256:${h}`).sort() : [];
}

function imageRecords(root: string): Record<string, { name: string; digest: string }> {
  try {
    return (JSON.parse(fs.readFileSync(path.join(root, 'images.json'), 'utf8')) as { images: Record<string, { name: string; digest: string }> }).images;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw e;
  }
}

function snapshot(root: string): Snapshot {
  return { blobs: listBlobs(root), layers: listLayers(root), images: Object.keys(imageRecords(root)).sort() };
}

/** Every blob is what its name says; every layer dir is whole; tmp/ is empty. */
function assertConsistent(t: Test, root: string): void {
  t.same(fs.readdirSync(path.join(root, 'tmp')), [], 'tmp/ is empty');
  const bad = listBlobs(root).filter((d) => sha(fs.readFileSync(path.join(root, 'blobs', ...d.split(':'))), d.split(':')[0]) !== d);
  t.same(bad, [], 'every blob matches its digest');
  const incomplete = listLayers(root).filter((d) => !fs.existsSync(path.join(root, 'layers', 'sha256', d.slice(7), 'layer.json')));
  t.same(incomplete, [], 'every layer dir has its layer.json');
}

/** After a failed pull: nothing of it is left, nothing of other images is lost. */
function assertNothingLeft(t: Test, root: string, before: Snapshot, failedName: string): void {
  assertConsistent(t, root);
  const now = snapshot(root);
  t.notOk(now.images.includes(failedName), `images.json has no record of ${failedName}`);
  t.same(now.images, before.images, 'the image records are as before');
  t.same(now.blobs, before.blobs, 'no blob of the failed pull is left (and none of another image is gone)');
  t.same(now.layers, before.layers, 'no layer of the failed pull is left (and none of another image is gone)');
}

/** After a successful pull: the image's blobs are whole, its layers unpacked, its record written. */
function assertPulled(t: Test, root: string, r: PullResult): void {
  assertConsistent(t, root);
  const blobs = [r.image.digest, r.manifest.config.digest, ...r.layers.map((l) => l.digest), ...(r.image.index ? [r.image.index] : [])];
  for (const d of blobs) {
    const file = path.join(root, 'blobs', ...d.split(':'));
    t.ok(fs.existsSync(file) && sha(fs.readFileSync(file), d.split(':')[0]) === d, `blob ${d.slice(0, 19)} is in the store and verified`);
  }
  for (const l of r.layers) {
    const dir = path.join(root, 'layers', 'sha256', l.diffId.slice(7));
    t.ok(fs.existsSync(path.join(dir, 'layer.json')) && fs.statSync(path.join(dir, 'diff')).isDirectory(), `layer ${l.diffId.slice(0, 19)} is unpacked`);
  }
  t.equal(imageRecords(root)[r.image.name]?.digest, r.image.digest, `images.json records ${r.image.name}`);
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const BIN = (): string => CLI_BIN;

interface CliRun { child: ChildProcess; done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> }

function cli(args: string[], env: NodeJS.ProcessEnv = process.env): CliRun {
  const child = spawn(process.execPath, [BIN(), ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done };
}

const lines = (s: string): string[] => s.split('\n').filter((l) => l !== '');

// ---------------------------------------------------------------------------------------------
// corruption

t.test('a corrupted byte in a layer blob fails with one digest mismatch error and leaves nothing behind', async (t) => {
  const proxy = await proxyFor(t, plain.url);
  const store = await freshStore(t);
  // Another image first: its layer (layered's first one) must survive the rollback.
  const bb = await pull(store, `${proxy.host}/library/busybox:latest`, OPTS);
  assertPulled(t, store.root, bb);
  const before = snapshot(store.root);

  const m = await layoutManifest('layered');
  const victim = m.layers[1]!.digest;
  t.equal(m.layers[0]!.digest, bb.layers[0]!.digest, 'layered shares its first layer with busybox');
  // Late enough that the other layers are in the store: the rollback must remove them.
  proxy.rules = [{ match: blobRule(victim), fault: { kind: 'corrupt', delayMs: 1000 } }];
  const err = await failure(pull(store, `${proxy.host}/test/layered:latest`, OPTS));
  assertOneLine(t, err, new RegExp(`layer ${escapeRe(victim)}.*digest mismatch`), 'corrupt layer');
  t.equal(blobGets(proxy, victim).length, 1, 'content that does not match its digest is refused, not fetched again as if the transfer broke');
  for (const l of m.layers.slice(2)) t.equal(blobGets(proxy, l.digest, { status: 200 }).length, 1, `layer ${l.digest.slice(0, 19)} was fetched (and must be rolled back)`);
  assertNothingLeft(t, store.root, before, `${proxy.host}/test/layered:latest`);
  t.ok(fs.existsSync(path.join(store.root, 'layers', 'sha256', bb.layers[0]!.diffId.slice(7), 'layer.json')), "busybox's layer is still there");
});

t.test('a corrupted byte in the config blob fails with one digest mismatch error and leaves nothing behind', async (t) => {
  const proxy = await proxyFor(t, plain.url);
  const store = await freshStore(t);
  const m = await layoutManifest('busybox');
  proxy.rules = [{ match: blobRule(m.config.digest), fault: { kind: 'corrupt' } }];
  const err = await failure(pull(store, `${proxy.host}/library/busybox:latest`, OPTS));
  assertOneLine(t, err, new RegExp(`${escapeRe(m.config.digest)}.*digest mismatch`), 'corrupt config');
  t.equal(blobGets(proxy, m.config.digest, { status: 200 }).length, 1, 'the config was fetched once');
  assertNothingLeft(t, store.root, EMPTY, `${proxy.host}/library/busybox:latest`);
});

// ---------------------------------------------------------------------------------------------
// broken transfers

t.test('a truncated layer body is retried and the pull succeeds when it happens once', async (t) => {
  const proxy = await proxyFor(t, plain.url);
  const store = await freshStore(t);
  const layer = (await layoutManifest('busybox')).layers[0]!.digest;
  proxy.rules = [{ match: blobRule(layer), fault: { kind: 'truncate' }, times: 1 }];
  const events: GlassboxEvent[] = [];
  const r = await pull(store, `${proxy.host}/library/busybox:latest`, { ...OPTS, events: (e) => events.push(e) });
  assertPulled(t, store.root, r);
  const gets = blobGets(proxy, layer);
  t.same(gets.map((e) => e.fault), ['truncate', undefined], 'one truncated GET, then one whole GET');
  t.ok(events.some((e) => e.kind === 'host' && e.detail.what === 'layer' && e.detail.state === 'retrying'), 'a retrying layer event');
});

t.test('a layer body truncated every time fails with one clear line after the configured retries', async (t) => {
  const proxy = await proxyFor(t, plain.url);
  const store = await freshStore(t);
  const layer = (await layoutManifest('busybox')).layers[0]!.digest;
  proxy.rules = [{ match: blobRule(layer), fault: { kind: 'truncate' } }];
  const err = await failure(pull(store, `${proxy.host}/library/busybox:latest`, OPTS));
  assertOneLine(t, err, new RegExp(`layer ${escapeRe(layer)}: `), 'truncated every time');
  t.equal(blobGets(proxy, layer).length, 1 + RETRY.retries, `${1 + RETRY.retries} GETs: the first and ${RETRY.retries} retries`);
  assertNothingLeft(t, store.root, EMPTY, `${proxy.host}/library/busybox:latest`);
});

t.test('a 500 once is retried and the pull succeeds', async (t) => {
  const proxy = await proxyFor(t, plain.url);
  const store = await freshStore(t);
  const layer = (await layoutManifest('busybox')).layers[0]!.digest;
  proxy.rules = [
    { match: /^GET \/v2\/library\/busybox\/manifests\/latest$/, fault: { kind: 'status', status: 500 }, times: 1 },
    { match: blobRule(layer), fault: { kind: 'status', status: 500 }, times: 1 },
  ];
  const r = await pull(store, `${proxy.host}/library/busybox:latest`, OPTS);
  assertPulled(t, store.root, r);
  t.same(blobGets(proxy, layer).map((e) => e.status), [500, 200], 'layer: 500, then 200');
  t.same(proxy.log.filter((e) => pathOf(e).endsWith('/manifests/latest')).map((e) => e.status), [500, 200], 'manifest: 500, then 200');
});

t.test('a 429 with Retry-After: 1 is honoured and the pull succeeds', async (t) => {
  const proxy = await proxyFor(t, plain.url);
  const store = await freshStore(t);
  const layer = (await layoutManifest('busybox')).layers[0]!.digest;
  proxy.rules = [{ match: blobRule(layer), fault: { kind: 'status', status: 429, retryAfter: '1' }, times: 1 }];
  const events: GlassboxEvent[] = [];
  const r = await pull(store, `${proxy.host}/library/busybox:latest`, { ...OPTS, events: (e) => events.push(e) });
  assertPulled(t, store.root, r);
  const gets = blobGets(proxy, layer);
  t.same(gets.map((e) => e.status), [429, 200], 'layer: 429, then 200');
  const waited = proxy.at(gets[1]!) - proxy.at(gets[0]!);
  t.ok(waited >= 950, `the retry came ${waited} ms after the 429 (>= ~1 s)`);
  t.ok(waited < 3000, `and not much later (${waited} ms)`);
  const retry = events.find((e) => e.kind === 'host' && e.detail.what === 'retry');
  t.match(retry, { detail: { what: 'retry', delayMs: 1000, reason: 'HTTP 429' } }, 'a retry event with the asked-for delay');
});

t.test('a Retry-After longer than the policy allows fails at once with a clear line', async (t) => {
  const proxy = await proxyFor(t, plain.url);
  const store = await freshStore(t);
  const layer = (await layoutManifest('busybox')).layers[0]!.digest;
  proxy.rules = [{ match: blobRule(layer), fault: { kind: 'status', status: 429, retryAfter: '10' } }];
  const t0 = Date.now();
  const err = await failure(pull(store, `${proxy.host}/library/busybox:latest`, OPTS));
  const ms = Date.now() - t0;
  assertOneLine(t, err, /429, registry asks to retry after 10 s/, 'Retry-After 10 s');
  t.ok(ms < 2000, `failed without waiting (${ms} ms)`);
  t.equal(blobGets(proxy, layer).length, 1, 'no retry');
  assertNothingLeft(t, store.root, EMPTY, `${proxy.host}/library/busybox:latest`);
});

t.test('a slow body (small chunks with delays, longer than the stall timeout in all) still succeeds', async (t) => {
  const proxy = await proxyFor(t, plain.url);
  const store = await freshStore(t);
  const layer = (await layoutManifest('busybox')).layers[0]!.digest;
  proxy.rules = [{ match: blobRule(layer), fault: { kind: 'slow', bytesPerChunk: 64 * 1024, delayMs: 60 } }];
  const t0 = Date.now();
  const r = await pull(store, `${proxy.host}/library/busybox:latest`, OPTS);
  const ms = Date.now() - t0;
  assertPulled(t, store.root, r);
  t.ok(ms > STALL_MS, `the body took ${ms} ms, more than the ${STALL_MS} ms stall timeout`);
  t.same(blobGets(proxy, layer).map((e) => e.fault), ['slow'], 'one slow GET, no retry');
});

t.test('a stalled body fails after the stall timeout with one clear line', async (t) => {
  const proxy = await proxyFor(t, plain.url);
  const store = await freshStore(t);
  const layer = (await layoutManifest('busybox')).layers[0]!.digest;
  proxy.rules = [{ match: blobRule(layer), fault: { kind: 'stall', afterBytes: 4096 } }];
  const t0 = Date.now();
  const err = await failure(pull(store, `${proxy.host}/library/busybox:latest`, OPTS));
  const ms = Date.now() - t0;
  assertOneLine(t, err, new RegExp(`layer ${escapeRe(layer)}: .*no data for .* after 4096 bytes`), 'stalled');
  t.equal(blobGets(proxy, layer).length, 1 + RETRY.retries, 'the stalled transfer was retried as configured');
  t.ok(ms >= (1 + RETRY.retries) * STALL_MS - 50, `each attempt waited the stall timeout (${ms} ms in all)`);
  t.ok(ms < 15_000, 'and no longer than needed');
  assertNothingLeft(t, store.root, EMPTY, `${proxy.host}/library/busybox:latest`);
});

t.test('a body that stalls once is retried and the pull succeeds', async (t) => {
  const proxy = await proxyFor(t, plain.url);
  const store = await freshStore(t);
  const layer = (await layoutManifest('busybox')).layers[0]!.digest;
  proxy.rules = [{ match: blobRule(layer), fault: { kind: 'stall', afterBytes: 4096 }, times: 1 }];
  const r = await pull(store, `${proxy.host}/library/busybox:latest`, OPTS);
  assertPulled(t, store.root, r);
  t.same(blobGets(proxy, layer).map((e) => e.fault), ['stall', undefined], 'one stalled GET, then one whole GET');
});

t.test('a truncated manifest or config body is retried and the pull succeeds', async (t) => {
  const m = await layoutManifest('busybox');
  const cases: [string, RegExp][] = [
    ['manifest', /^GET \/v2\/library\/busybox\/manifests\/latest$/],
    ['config', blobRule(m.config.digest)],
  ];
  for (const [what, match] of cases) {
    await t.test(what, async (t) => {
      const proxy = await proxyFor(t, plain.url);
      const store = await freshStore(t);
      proxy.rules = [{ match, fault: { kind: 'truncate' }, times: 1 }];
      const got = await failure(pull(store, `${proxy.host}/library/busybox:latest`, OPTS).then((r) => assertPulled(t, store.root, r)));
      t.equal(got, undefined, `the pull succeeds after one truncated ${what} (got: ${got === undefined ? 'success' : describe(got)})`);
      const hits = proxy.log.filter((e) => match.test(`${e.method} ${pathOf(e)}`));
      t.same(hits.map((e) => e.fault), ['truncate', undefined], `the ${what} was fetched again after the truncated body`);
      if (got !== undefined) assertNothingLeft(t, store.root, EMPTY, `${proxy.host}/library/busybox:latest`);
    });
  }
});

t.test('a stalled config body fails the attempt after the stall timeout instead of hanging', async (t) => {
  const proxy = await proxyFor(t, plain.url);
  const store = await freshStore(t);
  const m = await layoutManifest('busybox');
  proxy.rules = [{ match: blobRule(m.config.digest), fault: { kind: 'stall', afterBytes: 10 }, times: 1 }];
  const t0 = Date.now();
  const pulling = failure(pull(store, `${proxy.host}/library/busybox:latest`, OPTS).then((r) => assertPulled(t, store.root, r)));
  const LIMIT = 6000;
  const got = await Promise.race([pulling, sleep(LIMIT).then(() => 'hung' as const)]);
  const ms = Date.now() - t0;
  t.not(got, 'hung', `the pull settled (${ms} ms; stall timeout ${STALL_MS} ms)`);
  t.equal(got, undefined, `and succeeded after one retry (got: ${got === undefined ? 'success' : got === 'hung' ? 'still hanging' : describe(got)})`);
  t.same(blobGets(proxy, m.config.digest).map((e) => e.fault), ['stall', undefined], 'a stalled GET, then a whole one');
  if (got === 'hung') {
    await proxy.stop(); // frees the hung body, so the pull ends before the store goes away
    await pulling;
  }
});

// ---------------------------------------------------------------------------------------------
// registry answers

t.test('a manifest of an unknown media type fails with "unknown media type"', async (t) => {
  const proxy = await proxyFor(t, plain.url);
  const store = await freshStore(t);
  const body = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.example+json', config: {}, layers: [] });
  proxy.rules = [{ match: /^GET \/v2\/library\/busybox\/manifests\/latest$/, fault: { kind: 'replace', headers: { 'content-type': 'application/vnd.example+json' }, body } }];
  const err = await failure(pull(store, `${proxy.host}/library/busybox:latest`, OPTS));
  assertOneLine(t, err, /unknown media type "application\/vnd\.example\+json"/, 'unknown media type');
  t.equal(proxy.log.filter((e) => pathOf(e).includes('/blobs/')).length, 0, 'no blob was fetched');
  assertNothingLeft(t, store.root, EMPTY, `${proxy.host}/library/busybox:latest`);
});

t.test('a missing repository or tag fails with "not found (404)"', async (t) => {
  const proxy = await proxyFor(t, plain.url);
  const store = await freshStore(t);
  for (const ref of [`${proxy.host}/library/nope:latest`, `${proxy.host}/library/busybox:nope`]) {
    const err = await failure(pull(store, ref, OPTS));
    assertOneLine(t, err, /manifest .*: not found \(404\)/, ref);
    assertNothingLeft(t, store.root, EMPTY, ref);
  }
  t.equal(proxy.log.filter((e) => e.status === 404).length, 2, 'one 404 each, no retries');
});

t.test('blob GETs redirected to another origin succeed, without Authorization there (htpasswd registry)', async (t) => {
  const proxy = await proxyFor(t, authed.url);
  const store = await freshStore(t);
  const m = await layoutManifest('busybox');
  proxy.rules = [{ match: /^GET \/v2\/.+\/blobs\/sha256:/, fault: { kind: 'redirect', to: 'self-blob-store' } }];
  const r = await pull(store, `${proxy.host}/library/busybox:latest`, { ...OPTS, credentials: { username: USER, password: PASSWORD } });
  assertPulled(t, store.root, r);
  for (const d of [m.config.digest, ...m.layers.map((l) => l.digest)]) {
    const redirected = blobGets(proxy, d, { status: 307 });
    t.equal(redirected.length, 1, `${d.slice(0, 19)}: one 307 from the registry`);
    t.match(redirected[0]?.headers.authorization, /^Basic /, `${d.slice(0, 19)}: the registry request carried Basic auth`);
    const there = blobGets(proxy, d, { via: 'blob-store' });
    t.same(there.map((e) => e.status), [200], `${d.slice(0, 19)}: fetched from the blob store`);
    t.equal(there[0]?.headers.authorization, undefined, `${d.slice(0, 19)}: no Authorization sent to the other origin`);
  }
});

// ---------------------------------------------------------------------------------------------
// multi-platform

function platformFiles(root: string): string[] {
  const out: string[] = [];
  for (const d of listLayers(root)) {
    const f = path.join(root, 'layers', 'sha256', d.slice(7), 'diff', 'platform');
    if (fs.existsSync(f)) out.push(fs.readFileSync(f, 'utf8').trim());
  }
  return out;
}

t.test('multi-platform: the requested platform is pulled; a missing one fails with "no image for platform"', async (t) => {
  const ref = `${plain.host}/test/multiarch:latest`;
  await t.test('linux/arm64', async (t) => {
    const store = await freshStore(t);
    const r = await pull(store, ref, { ...OPTS, platform: { os: 'linux', architecture: 'arm64' } });
    assertPulled(t, store.root, r);
    t.equal(r.image.platform, 'linux/arm64/v8');
    t.ok(r.image.index, 'the record keeps the index');
    t.same(platformFiles(store.root), ['arm64'], 'the layer unpacked says arm64');
  });
  await t.test('host default', async (t) => {
    const store = await freshStore(t);
    const r = await pull(store, ref, OPTS);
    assertPulled(t, store.root, r);
    const host = hostPlatform().architecture;
    t.equal(host, 'amd64', 'this test machine is amd64');
    t.same(platformFiles(store.root), [host], `the layer unpacked says ${host}`);
  });
  await t.test('linux/s390x', async (t) => {
    const store = await freshStore(t);
    const err = await failure(pull(store, ref, { ...OPTS, platform: { os: 'linux', architecture: 's390x' } }));
    assertOneLine(t, err, /no image for platform linux\/s390x/, 's390x');
    assertNothingLeft(t, store.root, EMPTY, ref);
  });
});

// ---------------------------------------------------------------------------------------------
// auth

t.test('basic auth: no credentials, right ones, wrong ones, and a docker config file', async (t) => {
  const ref = `${authed.host}/library/busybox:latest`;
  const saved = process.env.DOCKER_CONFIG;
  t.teardown(() => {
    if (saved === undefined) delete process.env.DOCKER_CONFIG;
    else process.env.DOCKER_CONFIG = saved;
  });
  // no credentials anywhere: an empty docker config dir
  process.env.DOCKER_CONFIG = await tempDir(t, 'glassbox-dockercfg-empty-');

  await t.test('without credentials', async (t) => {
    const store = await freshStore(t);
    const err = await failure(pull(store, ref, OPTS));
    assertOneLine(t, err, /unauthorized \(401\)/, 'no credentials');
    assertNothingLeft(t, store.root, EMPTY, ref);
  });
  await t.test('with credentials', async (t) => {
    const store = await freshStore(t);
    const r = await pull(store, ref, { ...OPTS, credentials: { username: USER, password: PASSWORD } });
    assertPulled(t, store.root, r);
  });
  await t.test('with a wrong password', async (t) => {
    const store = await freshStore(t);
    const err = await failure(pull(store, ref, { ...OPTS, credentials: { username: USER, password: 'wrong' } }));
    assertOneLine(t, err, /unauthorized \(401\).*refused/, 'wrong password');
    assertNothingLeft(t, store.root, EMPTY, ref);
  });
  await t.test('with credentials from $DOCKER_CONFIG/config.json', async (t) => {
    const dir = await tempDir(t, 'glassbox-dockercfg-');
    const auth = Buffer.from(`${USER}:${PASSWORD}`).toString('base64');
    await writeFile(path.join(dir, 'config.json'), JSON.stringify({ auths: { [authed.host]: { auth } } }));
    process.env.DOCKER_CONFIG = dir;
    const store = await freshStore(t);
    const r = await pull(store, ref, OPTS);
    assertPulled(t, store.root, r);
  });
});

t.test('token auth: anonymous pull of a public repo, 401 for a private one, credentials work', async (t) => {
  const ts = await startTokenServer({ users: { alice: 'secret' }, anonymousPull: ['public/busybox'] });
  t.teardown(() => ts.stop());
  const reg = await startRegistry({ token: { realm: ts.realm, service: ts.service, issuer: ts.issuer, rootCertBundle: ts.rootCertBundle } });
  t.teardown(() => reg.stop());
  await reg.push(fx.layout('busybox'), 'public/busybox:latest', { creds: 'alice:secret' });
  await reg.push(fx.layout('busybox'), 'private/busybox:latest', { creds: 'alice:secret' });
  const saved = process.env.DOCKER_CONFIG;
  t.teardown(() => {
    if (saved === undefined) delete process.env.DOCKER_CONFIG;
    else process.env.DOCKER_CONFIG = saved;
  });
  process.env.DOCKER_CONFIG = await tempDir(t, 'glassbox-dockercfg-empty-');

  await t.test('anonymous, public repo', async (t) => {
    const store = await freshStore(t);
    const n = ts.requests.length;
    const r = await pull(store, `${reg.host}/public/busybox:latest`, OPTS);
    assertPulled(t, store.root, r);
    t.ok(ts.requests.slice(n).some((q) => q.query.scope === 'repository:public/busybox:pull' && q.user === undefined), 'an anonymous token for repository:public/busybox:pull');
  });
  await t.test('anonymous, private repo', async (t) => {
    const store = await freshStore(t);
    const n = ts.requests.length;
    const err = await failure(pull(store, `${reg.host}/private/busybox:latest`, OPTS));
    assertOneLine(t, err, /unauthorized \(401\)/, 'private without credentials');
    t.ok(ts.requests.slice(n).some((q) => q.query.scope === 'repository:private/busybox:pull'), 'a token was asked for repository:private/busybox:pull');
    assertNothingLeft(t, store.root, EMPTY, `${reg.host}/private/busybox:latest`);
  });
  await t.test('credentials, private repo', async (t) => {
    const store = await freshStore(t);
    const n = ts.requests.length;
    const r = await pull(store, `${reg.host}/private/busybox:latest`, { ...OPTS, credentials: { username: 'alice', password: 'secret' } });
    assertPulled(t, store.root, r);
    t.ok(ts.requests.slice(n).some((q) => q.query.scope === 'repository:private/busybox:pull' && q.user === 'alice' && q.authorized), 'alice got a token for repository:private/busybox:pull');
  });
  await t.test('wrong password, private repo', async (t) => {
    const store = await freshStore(t);
    const err = await failure(pull(store, `${reg.host}/private/busybox:latest`, { ...OPTS, credentials: { username: 'alice', password: 'nope' } }));
    assertOneLine(t, err, /unauthorized \(401\).*refused/, 'wrong token password');
    assertNothingLeft(t, store.root, EMPTY, `${reg.host}/private/busybox:latest`);
  });
});

// ---------------------------------------------------------------------------------------------
// concurrency

t.test('two concurrent pulls of one image into one store both succeed and GET each layer once', async (t) => {
  const m = await layoutManifest('layered');
  await t.test('in one process (Promise.all)', async (t) => {
    const proxy = await proxyFor(t, plain.url);
    const store = await freshStore(t);
    const ref = `${proxy.host}/test/layered:latest`;
    const [a, b] = await Promise.all([pull(store, ref, OPTS), pull(store, ref, OPTS)]);
    assertPulled(t, store.root, a);
    assertPulled(t, store.root, b);
    t.equal(a.image.digest, b.image.digest);
    for (const l of m.layers) t.equal(blobGets(proxy, l.digest, { status: 200 }).length, 1, `layer ${l.digest.slice(0, 19)} was GET once`);
    t.same(snapshot(store.root).images, [ref]);
  });
  await t.test('in two CLI processes', async (t) => {
    const proxy = await proxyFor(t, plain.url);
    const root = await tempDir(t, 'glassbox-pullfaults-cli-');
    const ref = `${proxy.host}/test/layered:latest`;
    const runs = [cli(['--root', root, 'pull', '-q', ref]), cli(['--root', root, 'pull', '-q', ref])];
    const results = await Promise.all(runs.map((r) => r.done));
    for (const [i, r] of results.entries()) {
      t.equal(r.code, 0, `process ${i} exit 0 (stderr: ${r.stderr.trim()})`);
      t.equal(r.stdout, `${ref}\n`, `process ${i} printed the image name`);
    }
    for (const l of m.layers) t.equal(blobGets(proxy, l.digest, { status: 200 }).length, 1, `layer ${l.digest.slice(0, 19)} was GET once`);
    assertConsistent(t, root);
    t.same(snapshot(root).images, [ref]);
    for (const l of m.layers) t.ok(fs.existsSync(path.join(root, 'blobs', 'sha256', l.digest.slice(7))), `blob ${l.digest.slice(0, 19)} stored`);
    t.equal(listLayers(root).length, m.layers.length, 'every layer unpacked');
  });
});

t.test('a failed pull does not roll back a layer a concurrent successful pull of another image uses', async (t) => {
  const proxy = await proxyFor(t, plain.url);
  const store = await freshStore(t);
  const layered = await layoutManifest('layered');
  const victim = layered.layers[1]!.digest;
  proxy.rules = [{ match: blobRule(victim), fault: { kind: 'corrupt' } }];
  const [bad, good] = await Promise.allSettled([
    pull(store, `${proxy.host}/test/layered:latest`, OPTS),
    pull(store, `${proxy.host}/library/busybox:latest`, OPTS),
  ]);
  t.equal(bad.status, 'rejected', 'the layered pull failed');
  t.equal(good.status, 'fulfilled', `the busybox pull succeeded ${good.status === 'rejected' ? describe(good.reason) : ''}`);
  if (good.status !== 'fulfilled') return;
  const r = good.value;
  assertPulled(t, store.root, r);
  t.same(snapshot(store.root), {
    blobs: [r.image.digest, r.manifest.config.digest, ...r.layers.map((l) => l.digest)].sort(),
    layers: r.layers.map((l) => l.diffId).sort(),
    images: [`${proxy.host}/library/busybox:latest`],
  }, "exactly busybox's blobs and layer remain");
  // The failing pull stops its own transfers at its first error; if it held
  // the shared layer then, the other pull fetches it again, whole.
  const gets = blobGets(proxy, layered.layers[0]!.digest, { status: 200 }).length;
  t.ok(gets >= 1 && gets <= 2, `the shared layer was fetched once, or again after the failed pull cut it off (${gets})`);
});

// ---------------------------------------------------------------------------------------------
// the CLI

t.test('CLI: an invalid reference exits 1 with exactly one "glassbox:" line', async (t) => {
  const root = await tempDir(t, 'glassbox-pullfaults-cli-');
  // in process: main() returns the code
  const written: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array): boolean => {
    written.push(String(chunk));
    return true;
  }) as typeof process.stderr.write;
  let code: number;
  try {
    code = await main(['--root', root, 'pull', 'NOPE//x']);
  } finally {
    process.stderr.write = write;
  }
  t.equal(code, 1, 'main() returns 1');
  t.equal(lines(written.join('')).length, 1, `one line from main(): ${JSON.stringify(written.join(''))}`);
  t.match(written.join(''), /^glassbox: .*invalid reference format.*\n$/);

  // a real process: real stderr
  const r = await cli(['--root', root, 'pull', 'NOPE//x']).done;
  t.equal(r.code, 1, 'exit code 1');
  t.equal(lines(r.stderr).length, 1, `exactly one line on stderr: ${JSON.stringify(r.stderr)}`);
  t.match(r.stderr, /^glassbox: /);
  t.match(r.stderr, /invalid reference format/);
});

t.test('CLI: pulling a missing image exits 1 with one line and leaves nothing in the store', async (t) => {
  const root = await tempDir(t, 'glassbox-pullfaults-cli-');
  const ref = `${plain.host}/library/nope:latest`;
  const r = await cli(['--root', root, 'pull', ref]).done;
  t.equal(r.code, 1, 'exit code 1');
  t.equal(lines(r.stderr).length, 1, `exactly one line on stderr: ${JSON.stringify(r.stderr)}`);
  t.match(r.stderr, /^glassbox: .*not found \(404\)/);
  assertNothingLeft(t, root, EMPTY, ref);
});

// ---------------------------------------------------------------------------------------------
// Ctrl-C

t.test('abort during a Retry-After wait stops the pull at once, with no request after it', async (t) => {
  const proxy = await proxyFor(t, plain.url);
  const store = await freshStore(t);
  const layer = (await layoutManifest('busybox')).layers[0]!.digest;
  proxy.rules = [{ match: blobRule(layer), fault: { kind: 'status', status: 429, retryAfter: '3' }, times: 1 }];
  const ac = new AbortController();
  const settled = failure(pull(store, `${proxy.host}/library/busybox:latest`, { ...OPTS, signal: ac.signal }));
  await waitFor('the 429', () => blobGets(proxy, layer, { status: 429 }).length === 1);
  await sleep(100);
  const n = proxy.log.length;
  const t0 = Date.now();
  ac.abort();
  const err = await settled;
  const ms = Date.now() - t0;
  t.ok(err !== undefined && isAbort(err), `the pull rejects as interrupted (${String(err)})`);
  t.ok(ms < 1500, `within 1.5 s of the abort, not after the 3 s Retry-After (took ${ms} ms)`);
  t.same(proxy.log.slice(n).map((e) => `${e.method} ${pathOf(e)} ${e.status}`), [], 'no request after the abort');
  assertNothingLeft(t, store.root, EMPTY, `${proxy.host}/library/busybox:latest`);
});

t.test('Ctrl-C during a pull exits 130 with "glassbox: interrupted" and leaves nothing behind', async (t) => {
  await plain.push(fx.layout('big'), 'test/big:latest');
  const m = await layoutManifest('big');
  const proxy = await proxyFor(t, plain.url);
  const layerDigests = new Set(m.layers.map((l) => l.digest));
  proxy.rules = [{ match: /^GET \/v2\/test\/big\/blobs\/sha256:/, fault: { kind: 'slow', bytesPerChunk: 64 * 1024, delayMs: 10 } }];
  const root = await tempDir(t, 'glassbox-pullfaults-cli-');
  const ref = `${proxy.host}/test/big:latest`;
  const run = cli(['--root', root, 'pull', ref]);
  let exited = false;
  void run.done.then(() => (exited = true), () => (exited = true));
  t.teardown(() => {
    if (!exited) run.child.kill('SIGKILL');
  });
  const biggest = m.layers.reduce((a, b) => (b.size > a.size ? b : a));
  await waitFor('a layer GET', () => proxy.log.some((e) => e.method === 'GET' && e.status === 200 && layerDigests.has(pathOf(e).split('/').pop()!)));
  await waitFor('the biggest layer GET', () => blobGets(proxy, biggest.digest, { status: 200 }).length > 0);
  // let the first bytes arrive, and the small busybox layer finish and be committed:
  // the interrupted pull must roll it back
  await waitFor('a committed layer', () => listLayers(root).length > 0);
  await sleep(200);
  t.notOk(exited, 'still pulling when interrupted');
  const t0 = Date.now();
  run.child.kill('SIGINT');
  const r = await run.done;
  const ms = Date.now() - t0;
  t.equal(r.code, 130, `exit code 130 (signal ${r.signal}, stderr ${JSON.stringify(r.stderr)})`);
  t.ok(lines(r.stderr).includes('glassbox: interrupted'), 'a "glassbox: interrupted" line');
  t.equal(lines(r.stderr).length, 1, `one line on stderr: ${JSON.stringify(r.stderr)}`);
  t.ok(ms < 10_000, `exited ${ms} ms after SIGINT`);
  t.ok(blobGets(proxy, biggest.digest, { status: 200 }).length === 1, 'the biggest layer was being fetched');
  // Check the store without Store.open (which would clean tmp/ itself).
  assertNothingLeft(t, root, EMPTY, ref);
});
