// An OCI distribution v2 client (distribution-spec, and Docker's token auth):
// anonymous, Bearer tokens from WWW-Authenticate challenges, basic auth;
// redirects followed by hand so each hop is an event and credentials never
// follow a redirect to another origin; retries with backoff on 5xx, 429 and
// broken connections, honouring Retry-After.
import type { Readable } from 'node:stream';
import { httpGet, type HttpResponse } from './http.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { EventSink } from '../events/schema.js';
import { dropEvents, hostEvent } from '../events/schema.js';
import { GlassboxError } from '../util/errors.js';
import type { Credentials } from './credentials.js';
import { digestOf, parseDigest } from './digest.js';
import { MANIFEST_ACCEPT, isIndex, isManifest, MT } from './mediatypes.js';
import { isLoopbackHost, registryEndpointHost } from './reference.js';

export interface RetryPolicy {
  /** Attempts after the first. */
  retries: number;
  /** First backoff; doubles each attempt. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** A Retry-After longer than this fails the request instead of waiting. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { retries: 4, baseDelayMs: 250, maxDelayMs: 8_000, maxRetryAfterMs: 60_000 };

export interface RegistryClientOptions {
  /** Registry as named in the reference: docker.io, 127.0.0.1:5000. */
  domain: string;
  /** Repository path: library/busybox. */
  repository: string;
  credentials?: Credentials;
  /** Use plain HTTP. Loopback registries always do. */
  insecure?: boolean;
  retry?: RetryPolicy;
  /** How long to wait for response headers. */
  timeoutMs?: number;
  /** How long a manifest or config body may send nothing before the attempt is retried. */
  stallTimeoutMs?: number;
  /** Ctrl-C: stops requests and waits between retries. */
  signal?: AbortSignal;
  events?: EventSink;
}

/** A body that broke, stalled or came short: worth another attempt. */
class BodyError extends Error {}

export interface FetchedManifest {
  digest: string;
  mediaType: string;
  body: Buffer;
}

export interface BlobResponse {
  /** The body: a layer worker reads it (layerworker.ts). */
  stream: Readable;
  /** Content-Length, when the server sent one. */
  length?: number;
  url: string;
}

/**
 * What another thread needs to make this client's requests: its options and
 * the authorization it holds, as plain data (a layer worker fetches its
 * layer's blob itself, see layerworker.ts).
 */
export interface RegistryHandoff {
  domain: string;
  repository: string;
  credentials?: Credentials;
  insecure?: boolean;
  retry: RetryPolicy;
  timeoutMs: number;
  stallTimeoutMs: number;
  authorization?: string;
}

interface Challenge {
  scheme: 'bearer' | 'basic';
  params: Record<string, string>;
}

const RETRY_STATUS = new Set([408, 429, 500, 502, 503, 504]);
const MAX_REDIRECTS = 5;
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/** Parse a WWW-Authenticate header into its first usable challenge. */
export function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*(Bearer|Basic)\b\s*(.*)$/i.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/g;
  let p: RegExpExecArray | null;
  while ((p = re.exec(m[2]!))) params[p[1]!.toLowerCase()] = (p[2] ?? p[3] ?? '').replace(/\\(.)/g, '$1');
  return { scheme: m[1]!.toLowerCase() as Challenge['scheme'], params };
}

/** Delay asked for by a Retry-After header (seconds or an HTTP date). */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const s = header.trim();
  if (/^\d+$/.test(s)) return Number(s) * 1000;
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

/** What the registry said went wrong, from its JSON error body. */
async function registryMessage(res: HttpResponse): Promise<string> {
  let text = '';
  try {
    text = await res.text(64 << 10);
  } catch {
    return '';
  }
  try {
    const body = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
    const e = body.errors?.[0];
    if (e) return [e.code, e.message].filter(Boolean).join(': ');
  } catch {
    // not JSON: a proxy's or a load balancer's page
  }
  return text.trim().split('\n')[0]!.slice(0, 200);
}

export class RegistryClient {
  readonly base: string;
  private readonly retry: RetryPolicy;
  private readonly events: EventSink;
  private readonly timeoutMs: number;
  private readonly stallMs: number;
  private authorization?: string;
  private readonly scope: string;

  constructor(private readonly opts: RegistryClientOptions) {
    const insecure = opts.insecure || isLoopbackHost(opts.domain);
    this.base = `${insecure ? 'http' : 'https'}://${registryEndpointHost(opts.domain)}/v2/`;
    this.retry = opts.retry ?? DEFAULT_RETRY;
    this.events = opts.events ?? dropEvents;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.stallMs = opts.stallTimeoutMs ?? 30_000;
    this.scope = `repository:${opts.repository}:pull`;
  }

  /** This client as plain data, for a layer worker. */
  handoff(): RegistryHandoff {
    const o = this.opts;
    return {
      domain: o.domain,
      repository: o.repository,
      credentials: o.credentials,
      insecure: o.insecure,
      retry: this.retry,
      timeoutMs: this.timeoutMs,
      stallTimeoutMs: this.stallMs,
      authorization: this.authorization,
    };
  }

  /** The client a handoff describes, in this thread: it starts with the token the first one got. */
  static fromHandoff(h: RegistryHandoff, signal?: AbortSignal, events?: EventSink): RegistryClient {
    const { authorization, ...opts } = h;
    const c = new RegistryClient({ ...opts, signal, events });
    c.authorization = authorization;
    return c;
  }

  private fail(message: string, code?: string, cause?: unknown): GlassboxError {
    return new GlassboxError(message, { op: 'pull', subject: `${this.opts.domain}/${this.opts.repository}`, code, cause });
  }

  /** Fetch a manifest or index by tag or digest, verified against its digest. */
  async manifest(reference: string): Promise<FetchedManifest> {
    const { res, body } = await this.request(`${this.opts.repository}/manifests/${reference}`, { accept: MANIFEST_ACCEPT }, async (r) => ({
      res: r,
      body: await this.readBody(r, MAX_MANIFEST_BYTES, `manifest ${reference}`),
    }));
    const headerType = (res.header('content-type') ?? '').split(';')[0]!.trim();
    let parsed: { mediaType?: string; schemaVersion?: number; manifests?: unknown; layers?: unknown };
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      throw this.fail(`manifest ${reference} is not JSON`, 'EBADMSG');
    }
    let mediaType = parsed.mediaType ?? headerType;
    if (!parsed.mediaType && !isIndex(mediaType) && !isManifest(mediaType)) {
      // OCI allows the field to be absent; tell index from manifest by shape.
      if (Array.isArray(parsed.manifests)) mediaType = MT.ociIndex;
      else if (Array.isArray(parsed.layers)) mediaType = MT.ociManifest;
    }
    if (mediaType === MT.dockerSchema1 || mediaType === MT.dockerSchema1Signed || parsed.schemaVersion === 1) {
      throw this.fail(`manifest ${reference} is Docker schema 1, which registries stopped serving in 2019; push the image again with a current client`, 'EPROTO');
    }
    if (!isIndex(mediaType) && !isManifest(mediaType)) {
      throw this.fail(`manifest ${reference} has unknown media type "${mediaType || '(none)'}"`, 'EPROTO');
    }
    const byDigest = reference.includes(':');
    const expected = byDigest ? reference : res.header('docker-content-digest');
    let digest: string;
    if (expected) {
      const { algorithm } = parseDigest(expected, 'manifest digest');
      digest = digestOf(body, algorithm);
      if (digest !== expected) {
        throw this.fail(`manifest ${reference}: digest mismatch: registry said ${expected}, content is ${digest}`, 'EBADMSG');
      }
    } else {
      digest = digestOf(body);
    }
    return { digest, mediaType, body };
  }

  /** A small blob (a config) in memory, verified. */
  async blobBuffer(digest: string, maxBytes: number): Promise<Buffer> {
    const { algorithm } = parseDigest(digest);
    const buf = await this.request(`${this.opts.repository}/blobs/${digest}`, { accept: '*/*' }, (r) => this.readBody(r, maxBytes, `blob ${digest}`));
    const got = digestOf(buf, algorithm);
    if (got !== digest) throw this.fail(`blob ${digest}: digest mismatch: content is ${got}`, 'EBADMSG');
    return buf;
  }

  /** Open a blob for streaming. The caller verifies what it reads. */
  async blob(digest: string): Promise<BlobResponse> {
    parseDigest(digest);
    const res = await this.request(`${this.opts.repository}/blobs/${digest}`, { accept: '*/*' }, async (r) => r);
    const lenHeader = res.header('content-length');
    return {
      stream: res.body,
      length: lenHeader === null ? undefined : Number(lenHeader),
      url: res.url,
    };
  }

  /**
   * A small body, whole: at most maxBytes, no silence longer than the stall
   * timeout, as long as Content-Length says. Short or stalled is a BodyError.
   */
  private async readBody(res: HttpResponse, maxBytes: number, what: string): Promise<Buffer> {
    const declared = res.header('content-length');
    if (declared !== null && Number(declared) > maxBytes) throw this.fail(`${what} is ${declared} bytes, more than the ${maxBytes} allowed`, 'EFBIG');
    const chunks: Buffer[] = [];
    let n = 0;
    const body = res.body;
    await new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(() => stop(new BodyError(`${what}: no data for ${this.stallMs} ms after ${n} bytes`)), this.stallMs);
      };
      const stop = (e?: Error) => {
        clearTimeout(timer);
        body.off('data', onData).off('end', onEnd).off('error', onError).off('aborted', onAborted);
        if (e) {
          body.destroy();
          reject(e);
        } else resolve();
      };
      const onData = (c: Buffer) => {
        arm();
        n += c.length;
        if (n > maxBytes) return stop(this.fail(`${what} is larger than ${maxBytes} bytes`, 'EFBIG'));
        chunks.push(c);
      };
      const onEnd = () => stop();
      const onError = (e: Error) => stop(new BodyError(`${what}: body broke after ${n} bytes: ${describeFetchError(e)}`));
      const onAborted = () => stop(new BodyError(`${what}: body broke after ${n} bytes`));
      body.on('data', onData).on('end', onEnd).on('error', onError).on('aborted', onAborted);
      arm();
    });
    if (declared !== null && n !== Number(declared)) throw new BodyError(`${what}: body ended after ${n} of ${declared} bytes`);
    return Buffer.concat(chunks);
  }

  /** Wait as the retry policy says before attempt `attempt` (1-based retry count). */
  async backoff(url: string, attempt: number, reason: string, retryAfter?: number): Promise<void> {
    let delay = Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** (attempt - 1));
    delay = Math.round(delay * (0.75 + Math.random() * 0.5));
    if (retryAfter !== undefined) delay = retryAfter;
    this.events(hostEvent({ what: 'retry', url, attempt, delayMs: delay, reason }));
    await sleep(delay, undefined, this.opts.signal ? { signal: this.opts.signal } : undefined);
  }

  get retries(): number {
    return this.retry.retries;
  }

  /**
   * GET with auth, redirects and retries; `consume` turns a 2xx response into
   * the result, and a body that breaks there is retried like a failed request.
   * Throws one clear error.
   */
  private async request<T>(path: string, o: { accept: string }, consume: (res: HttpResponse) => Promise<T>): Promise<T> {
    const url = new URL(path, this.base).toString();
    let authTried = false;
    for (let attempt = 0; ; attempt++) {
      let res: HttpResponse;
      try {
        res = await this.follow(url, o.accept);
      } catch (e) {
        if (e instanceof GlassboxError) throw e;
        this.opts.signal?.throwIfAborted();
        const reason = describeFetchError(e);
        if (attempt < this.retry.retries) {
          await this.backoff(url, attempt + 1, reason);
          continue;
        }
        throw this.fail(`${path}: ${reason}`, 'ECONNREFUSED', e);
      }
      if (res.ok) {
        try {
          return await consume(res);
        } catch (e) {
          if (!(e instanceof BodyError)) throw e;
          if (attempt < this.retry.retries) {
            await this.backoff(url, attempt + 1, e.message);
            continue;
          }
          throw this.fail(e.message, 'EIO', e);
        }
      }
      if (res.status === 401 && !authTried) {
        authTried = true;
        res.discard();
        await this.authenticate(parseChallenge(res.header('www-authenticate')));
        attempt--;
        continue;
      }
      if (RETRY_STATUS.has(res.status) && attempt < this.retry.retries) {
        const after = retryAfterMs(res.header('retry-after'));
        res.discard();
        if (after !== undefined && after > this.retry.maxRetryAfterMs) {
          throw this.fail(`${path}: ${res.status}, registry asks to retry after ${Math.round(after / 1000)} s`, String(res.status));
        }
        await this.backoff(url, attempt + 1, `HTTP ${res.status}`, after);
        continue;
      }
      const msg = await registryMessage(res);
      throw this.httpError(path, res.status, msg);
    }
  }

  private httpError(path: string, status: number, msg: string): GlassboxError {
    const what = path.replace(`${this.opts.repository}/`, '').replace(/^manifests\//, 'manifest ').replace(/^blobs\//, 'blob ');
    let text: string;
    switch (status) {
      case 401:
        text = `${what}: unauthorized (401)${this.opts.credentials ? ': the credentials were refused' : ': log in or pass --username'}`;
        break;
      case 403:
        text = `${what}: access denied (403)`;
        break;
      case 404:
        text = `${what}: not found (404)`;
        break;
      default:
        text = `${what}: HTTP ${status}`;
    }
    if (msg) text += ` - ${msg}`;
    return this.fail(text, String(status));
  }

  /** One GET, following redirects by hand; credentials go only to the registry's own origin. */
  private async follow(start: string, accept: string): Promise<HttpResponse> {
    let url = start;
    const origin = new URL(this.base).origin;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const headers: Record<string, string> = { accept, 'user-agent': 'glassbox' };
      if (this.authorization && new URL(url).origin === origin) headers.authorization = this.authorization;
      const t0 = Date.now();
      const res = await httpGet(url, { headers, timeoutMs: this.timeoutMs, signal: this.opts.signal });
      const len = res.header('content-length');
      this.events(
        hostEvent({ what: 'http', method: 'GET', url, status: res.status, bytes: len === null ? undefined : Number(len), ms: Date.now() - t0, attempt: hop }),
      );
      if (res.status >= 300 && res.status < 400 && res.header('location') !== null) {
        res.discard();
        url = new URL(res.header('location')!, url).toString();
        continue;
      }
      return res;
    }
    throw this.fail(`${start}: more than ${MAX_REDIRECTS} redirects`, 'ELOOP');
  }

  private async authenticate(ch: Challenge | undefined): Promise<void> {
    const creds = this.opts.credentials;
    if (!ch) throw this.fail('registry answered 401 without a WWW-Authenticate challenge', '401');
    if (ch.scheme === 'basic') {
      if (!creds) throw this.fail('unauthorized (401): the registry wants a username and password (basic auth)', '401');
      this.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
      this.events(hostEvent({ what: 'auth', scheme: 'basic', realm: ch.params.realm, user: creds.username }));
      return;
    }
    const realm = ch.params.realm;
    if (!realm) throw this.fail('Bearer challenge without a realm', 'EPROTO');
    const tokenUrl = new URL(realm);
    if (ch.params.service) tokenUrl.searchParams.set('service', ch.params.service);
    tokenUrl.searchParams.set('scope', ch.params.scope ?? this.scope);
    const headers: Record<string, string> = { 'user-agent': 'glassbox' };
    if (creds) {
      headers.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
      tokenUrl.searchParams.set('account', creds.username);
    }
    this.events(
      hostEvent({ what: 'auth', scheme: 'bearer', realm, service: ch.params.service, scope: ch.params.scope ?? this.scope, user: creds?.username }),
    );
    let res: HttpResponse | undefined;
    for (let attempt = 0; ; attempt++) {
      const t0 = Date.now();
      try {
        res = await httpGet(tokenUrl.toString(), { headers, timeoutMs: this.timeoutMs, signal: this.opts.signal });
      } catch (e) {
        if (attempt < this.retry.retries) {
          await this.backoff(tokenUrl.toString(), attempt + 1, describeFetchError(e));
          continue;
        }
        throw this.fail(`token server ${tokenUrl.origin}: ${describeFetchError(e)}`, 'ECONNREFUSED', e);
      }
      this.events(hostEvent({ what: 'http', method: 'GET', url: tokenUrl.toString(), status: res.status, ms: Date.now() - t0, attempt }));
      if (RETRY_STATUS.has(res.status) && attempt < this.retry.retries) {
        res.discard();
        await this.backoff(tokenUrl.toString(), attempt + 1, `HTTP ${res.status}`, retryAfterMs(res.header('retry-after')));
        continue;
      }
      break;
    }
    if (!res.ok) {
      const msg = await registryMessage(res);
      const why = res.status === 401 ? (creds ? 'the credentials were refused' : 'log in or pass --username') : `HTTP ${res.status}`;
      throw this.fail(`token server ${tokenUrl.origin}: unauthorized (${res.status}): ${why}${msg ? ` - ${msg}` : ''}`, String(res.status));
    }
    let body: { token?: string; access_token?: string } = {};
    try {
      body = JSON.parse(await res.text(1 << 20)) as typeof body;
    } catch {
      // no JSON: answered below as "without a token"
    }
    const token = body.token ?? body.access_token;
    if (!token) throw this.fail(`token server ${tokenUrl.origin} answered without a token`, 'EPROTO');
    this.authorization = `Bearer ${token}`;
  }
}

export function describeFetchError(e: unknown): string {
  if (e instanceof Error) {
    const cause = (e as Error & { cause?: { code?: string; message?: string } }).cause;
    if (cause?.code) return `${cause.code}${cause.message ? ` (${cause.message})` : ''}`;
    if (cause?.message) return cause.message;
    return e.message;
  }
  return String(e);
}
