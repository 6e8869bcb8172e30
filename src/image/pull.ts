// glassbox pull: reference -> manifest (or index, then the platform's
// manifest) -> config -> layers, in parallel, each in one streaming pass.
import type { EventSink } from '../events/schema.js';
import { dropEvents, hostEvent } from '../events/schema.js';
import { GlassboxError } from '../util/errors.js';
import { findCredentials, type Credentials } from './credentials.js';
import { parseDigest } from './digest.js';
import { ensureLayer } from './layerfetch.js';
import { isIndex, type ImageConfig, type ImageIndex, type ImageManifest } from './mediatypes.js';
import { formatPlatform, hostPlatform, matchRank, platformMatches, type Platform } from './platform.js';
import { formatReference, parseReference } from './reference.js';
import { RegistryClient, type RetryPolicy } from './registry.js';
import type { ImageRecord, Store } from './store.js';
import { recordName } from './resolve.js';

export { recordName };
import { asWriter } from './writer.js';
import { DEFAULT_CONCURRENCY } from './limits.js';

export interface PullOptions {
  platform?: Platform;
  credentials?: Credentials;
  /** Registries (host[:port]) to reach over plain HTTP. Loopback always is. */
  insecureRegistries?: string[];
  events?: EventSink;
  retry?: RetryPolicy;
  stallTimeoutMs?: number;
  timeoutMs?: number;
  /**
   * Layers transferred at once, each in its own worker thread. Docker
   * downloads 3 at once and unpacks one at a time; we unpack as we download,
   * so a layer of many small files need not wait behind the large ones.
   */
  concurrency?: number;
  /** Abort (Ctrl-C): the pull stops, and removes what it wrote. */
  signal?: AbortSignal;
}

export interface PullResult {
  image: ImageRecord;
  config: ImageConfig;
  manifest: ImageManifest;
  layers: { digest: string; diffId: string; size: number; fetched: boolean }[];
}

const MAX_CONFIG_BYTES = 8 * 1024 * 1024;


export function parseJson<T>(buf: Buffer, what: string): T {
  try {
    return JSON.parse(buf.toString('utf8')) as T;
  } catch {
    throw new GlassboxError(`${what} is not valid JSON`, { op: 'pull', code: 'EBADMSG' });
  }
}

/** Pick the index entry for a platform as containerd does: exact variant first. */
export function selectManifest(index: ImageIndex, want: Platform): ImageIndex['manifests'][number] | undefined {
  const candidates = index.manifests
    .filter((m) => m.platform && platformMatches(want, m.platform))
    .sort((a, b) => matchRank(want, a.platform!) - matchRank(want, b.platform!));
  return candidates[0];
}

/** Check the shape of a manifest before trusting any field of it. */
export function checkManifest(m: ImageManifest, what: string): void {
  const bad = (why: string) => new GlassboxError(`${what}: ${why}`, { op: 'pull', code: 'EBADMSG' });
  if (!m || typeof m !== 'object') throw bad('not an object');
  if (!m.config || typeof m.config.digest !== 'string') throw bad('no config descriptor');
  parseDigest(m.config.digest, 'config digest');
  if (!Array.isArray(m.layers)) throw bad('no layers list');
  for (const l of m.layers) {
    if (!l || typeof l.digest !== 'string' || typeof l.mediaType !== 'string') throw bad('a layer descriptor without digest or media type');
    parseDigest(l.digest, 'layer digest');
    if (typeof l.size !== 'number' || l.size < 0) throw bad(`layer ${l.digest} has no valid size`);
  }
}

export function checkConfig(c: ImageConfig, m: ImageManifest, what: string): void {
  const bad = (why: string) => new GlassboxError(`${what}: ${why}`, { op: 'pull', code: 'EBADMSG' });
  if (!c || typeof c !== 'object' || !c.rootfs || !Array.isArray(c.rootfs.diff_ids)) throw bad('config has no rootfs.diff_ids');
  if (c.rootfs.diff_ids.length !== m.layers.length) {
    throw bad(`config lists ${c.rootfs.diff_ids.length} diffIDs for ${m.layers.length} layers`);
  }
  for (const d of c.rootfs.diff_ids) parseDigest(d, 'diffID');
}

export async function pull(store: Store, input: string, o: PullOptions = {}): Promise<PullResult> {
  const events = o.events ?? dropEvents;
  const ref = parseReference(input);
  const name = formatReference(ref);
  events(hostEvent({ what: 'resolve', input, reference: name, registry: ref.domain, repository: ref.path, tag: ref.tag, digest: ref.digest }));
  const credentials = o.credentials ?? (await findCredentials(ref.domain));
  const client = new RegistryClient({
    domain: ref.domain,
    repository: ref.path,
    credentials,
    insecure: o.insecureRegistries?.includes(ref.domain),
    retry: o.retry,
    timeoutMs: o.timeoutMs,
    stallTimeoutMs: o.stallTimeoutMs,
    signal: o.signal,
    events,
  });
  const want = o.platform ?? hostPlatform();
  const fail = (msg: string, code?: string) => new GlassboxError(msg, { op: 'pull', subject: name, code });

  return asWriter(store, async ({ pool, committed }) => {
    // A layer worker takes ~100 ms to start: start one now, while the
    // manifest is on its way, and the rest once the manifest says how many.
    pool.warm(1);
    const top = await client.manifest(ref.digest ?? ref.tag!);
    let manifestBlob = top;
    let indexBlob: typeof top | undefined;
    if (isIndex(top.mediaType)) {
      indexBlob = top;
      const index = parseJson<ImageIndex>(top.body, 'index');
      if (!Array.isArray(index.manifests)) throw fail('index has no manifests list', 'EBADMSG');
      const chosen = selectManifest(index, want);
      const offered = index.manifests.filter((m) => m.platform).map((m) => formatPlatform(m.platform!));
      events(hostEvent({ what: 'manifest', digest: top.digest, mediaType: top.mediaType, candidates: offered }));
      if (!chosen) {
        throw fail(`no image for platform ${formatPlatform(want)} (the index offers ${offered.join(', ') || 'none'})`, 'ENOENT');
      }
      parseDigest(chosen.digest, 'manifest digest');
      manifestBlob = await client.manifest(chosen.digest);
      if (isIndex(manifestBlob.mediaType)) throw fail('an index inside an index is not supported', 'EPROTO');
    }
    o.signal?.throwIfAborted();
    const manifest = parseJson<ImageManifest>(manifestBlob.body, 'manifest');
    checkManifest(manifest, `manifest ${manifestBlob.digest}`);
    pool.warm(manifest.layers.filter((l) => !store.hasBlob(l.digest, l.size)).length);
    const configBuf = await client.blobBuffer(manifest.config.digest, MAX_CONFIG_BYTES);
    const config = parseJson<ImageConfig>(configBuf, 'image config');
    checkConfig(config, manifest, `image config ${manifest.config.digest}`);
    const have: Platform = { os: config.os, architecture: config.architecture, variant: config.variant };
    events(hostEvent({ what: 'manifest', digest: manifestBlob.digest, mediaType: manifestBlob.mediaType, platform: formatPlatform(have) }));
    if (!indexBlob && o.platform && !platformMatches(want, have)) {
      throw fail(`the image is for ${formatPlatform(have)}, not the requested ${formatPlatform(want)}`, 'ENOENT');
    }

    const layers = manifest.layers.map((l, i) => ({ desc: l, diffId: config.rootfs.diff_ids[i]! }));
    const results: boolean[] = new Array(layers.length).fill(false);
    // The first layer that fails stops the others: no point finishing downloads of a failed pull.
    const stopOthers = new AbortController();
    const signal = o.signal ? AbortSignal.any([o.signal, stopOthers.signal]) : stopOthers.signal;
    let firstError: unknown;
    let next = 0;
    const worker = async () => {
      while (next < layers.length && !signal.aborted) {
        const i = next++;
        const { desc, diffId } = layers[i]!;
        try {
          // The layer worker fetches the blob, with this client's token.
          const r = await ensureLayer(store, desc, diffId, async () => ({ registry: client.handoff(), digest: desc.digest }), {
            events,
            stallTimeoutMs: o.stallTimeoutMs,
            retries: client.retries,
            backoff: (attempt, reason) => client.backoff(`${client.base}${ref.path}/blobs/${desc.digest}`, attempt, reason),
            committed,
            signal,
            subject: name,
            pool,
          });
          results[i] = r === 'fetched';
        } catch (e) {
          if (firstError === undefined && !(stopOthers.signal.aborted && !o.signal?.aborted)) firstError = e;
          stopOthers.abort();
          return;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(o.concurrency ?? DEFAULT_CONCURRENCY, layers.length)) }, worker));
    if (firstError !== undefined) throw firstError;

    o.signal?.throwIfAborted();
    for (const [d, b] of [
      [manifest.config.digest, configBuf],
      [manifestBlob.digest, manifestBlob.body],
      ...(indexBlob ? [[indexBlob.digest, indexBlob.body]] : []),
    ] as [string, Buffer][]) {
      if (!store.hasBlob(d)) {
        store.writeBlob(d, b);
        committed.blobs.push(d);
      }
    }
    const image: ImageRecord = {
      name: recordName(ref),
      digest: manifestBlob.digest,
      index: indexBlob?.digest,
      platform: formatPlatform(have),
      tagged: new Date().toISOString(),
    };
    await store.tag(image);
    const size = manifest.layers.reduce((n, l) => n + l.size, 0);
    events(hostEvent({ what: 'image', name: image.name, digest: image.digest, layers: layers.length, size }));
    return {
      image,
      config,
      manifest,
      layers: layers.map((l, i) => ({ digest: l.desc.digest, diffId: l.diffId, size: l.desc.size, fetched: results[i]! })),
    };
  });
}
