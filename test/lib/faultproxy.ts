// A reverse proxy in front of a plain-HTTP OCI registry that injects faults into
// chosen requests. Rules are read from `proxy.rules` on every request, so a test can
// replace or push to them at any time.
//
// Besides the main port (`url`), the proxy listens on a second port (`blobStoreUrl`)
// that plays "blob storage on another origin": the `redirect` fault answers 307 to it,
// and it forwards the same path upstream, re-using the Authorization header of the
// redirected request (remembered under a one-time `__faultproxy` query parameter), so
// the client must not (and need not) send Authorization there.
import { Agent, createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';

export type Fault =
  /** flip one byte of the response body at `offset` (default: the middle); buffers the body, and sends it after `delayMs` */
  | { kind: 'corrupt'; offset?: number; delayMs?: number }
  /** send the real Content-Length but only `bytes` of the body (default: half), then destroy the socket */
  | { kind: 'truncate'; bytes?: number }
  /** answer with this status instead of forwarding (the request is not sent upstream) */
  | { kind: 'status'; status: number; retryAfter?: string; body?: string }
  /** forward the response body in chunks of `bytesPerChunk`, waiting `delayMs` before each */
  | { kind: 'slow'; bytesPerChunk: number; delayMs: number }
  /** send `afterBytes` of the response body, then hang with the socket open until the client or stop() closes it */
  | { kind: 'stall'; afterBytes: number }
  /** answer with a made-up response (status default 200); not sent upstream */
  | { kind: 'replace'; status?: number; headers?: Record<string, string>; body: string | Buffer }
  /** answer 307 with Location on the blob-store port, same path and query */
  | { kind: 'redirect'; to: 'self-blob-store' };

export interface Rule {
  /** tested against `${method} ${path}`, where path includes the query string, e.g. "GET /v2/a/blobs/sha256:..." */
  match: RegExp;
  fault: Fault;
  /** how many matching requests get the fault; default unlimited */
  times?: number;
  /** which listener the rule applies to; default 'proxy' (the blob store forwards untouched).
   *  Rules are tried in order; the first that matches and has `times` left is used. Body faults
   *  (corrupt, truncate, slow, stall) skip HEAD requests; a 204/304 answer is forwarded as is. */
  on?: 'proxy' | 'blob-store' | 'both';
}

export interface LogEntry {
  method: string;
  /** path and query as received (the blob store's `__faultproxy` parameter included) */
  path: string;
  /** status sent to the client; 0 until the response headers are sent */
  status: number;
  /** kind of the fault applied, if any */
  fault?: string;
  /** request headers as received from the client */
  headers: Record<string, string | string[] | undefined>;
  via: 'proxy' | 'blob-store';
}

export interface FaultProxy {
  /** http://127.0.0.1:PORT (no trailing slash) */
  url: string;
  /** 127.0.0.1:PORT, as used in image references */
  host: string;
  /** origin of the second, "blob storage" listener */
  blobStoreUrl: string;
  rules: Rule[];
  log: LogEntry[];
  stop(): Promise<void>;
}

const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization',
  'te', 'trailer', 'upgrade',
]);
const REDIRECT_PARAM = '__faultproxy';
const BODY_FAULTS = new Set<Fault['kind']>(['corrupt', 'truncate', 'slow', 'stall']);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  const up = new URL(upstream);
  const agent = new Agent({ keepAlive: true });
  const sockets = new Set<Socket>();
  const upstreamRequests = new Set<ReturnType<typeof httpRequest>>();
  const used = new WeakMap<Rule, number>();
  /** redirect nonce -> Authorization of the redirected request */
  const redirects = new Map<string, string | undefined>();
  let stopped = false;

  const proxy: FaultProxy = { url: '', host: '', blobStoreUrl: '', rules: [], log: [], stop };

  function pickFault(method: string, path: string, via: LogEntry['via']): Fault | undefined {
    const line = `${method} ${path}`;
    for (const rule of proxy.rules) {
      const on = rule.on ?? 'proxy';
      if (on !== 'both' && on !== via) continue;
      if (via === 'blob-store' && rule.fault.kind === 'redirect') continue;
      // body faults neither apply to nor use up `times` on HEAD requests
      if (method === 'HEAD' && BODY_FAULTS.has(rule.fault.kind)) continue;
      rule.match.lastIndex = 0;
      if (!rule.match.test(line)) continue;
      const n = used.get(rule) ?? 0;
      if (rule.times !== undefined && n >= rule.times) continue;
      used.set(rule, n + 1);
      return rule.fault;
    }
    return undefined;
  }

  function rewriteLocation(loc: string): string {
    try {
      const u = new URL(loc, up);
      if (u.origin !== up.origin) return loc;
      return proxy.url + u.pathname + u.search + u.hash;
    } catch {
      return loc;
    }
  }

  function responseHeaders(upRes: IncomingMessage): OutgoingHttpHeaders {
    const out: OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(upRes.headers)) {
      if (v === undefined || HOP_BY_HOP.has(k) || k === 'transfer-encoding') continue;
      out[k] = k === 'location' && typeof v === 'string' ? rewriteLocation(v) : v;
    }
    return out;
  }

  function send(res: ServerResponse, entry: LogEntry, status: number, headers: OutgoingHttpHeaders, body?: Buffer): void {
    entry.status = status;
    res.writeHead(status, headers);
    res.end(body);
  }

  function forward(req: IncomingMessage, path: string, extraAuth: string | undefined): Promise<IncomingMessage> {
    const headers: IncomingHttpHeaders = {};
    for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k)) headers[k] = v;
    headers.host = up.host;
    if (extraAuth !== undefined && headers.authorization === undefined) headers.authorization = extraAuth;
    return new Promise((resolve, reject) => {
      const upReq = httpRequest({
        protocol: up.protocol, hostname: up.hostname, port: up.port, agent,
        method: req.method, path, headers,
      }, resolve);
      upstreamRequests.add(upReq);
      upReq.once('close', () => upstreamRequests.delete(upReq));
      upReq.once('error', reject);
      req.pipe(upReq);
    });
  }

  async function readAll(stream: AsyncIterable<Buffer | string>): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(Buffer.from(c));
    return Buffer.concat(chunks);
  }

  function write(res: ServerResponse, chunk: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      if (res.destroyed) return reject(new Error('client went away'));
      res.write(chunk, (err) => (err ? reject(err) : resolve()));
    });
  }

  async function handle(req: IncomingMessage, res: ServerResponse, entry: LogEntry): Promise<void> {
    const { method, via, path: rawPath } = entry;

    let path = rawPath;
    let extraAuth: string | undefined;
    if (via === 'blob-store') {
      const u = new URL(rawPath, 'http://x');
      const nonce = u.searchParams.get(REDIRECT_PARAM);
      if (nonce !== null) {
        extraAuth = redirects.get(nonce);
        u.searchParams.delete(REDIRECT_PARAM);
        path = u.pathname + u.search;
      }
    }

    const fault = pickFault(method, path, via);
    if (fault) entry.fault = fault.kind;

    // Faults that answer without going upstream.
    if (fault?.kind === 'status') {
      req.resume();
      const body = Buffer.from(fault.body ?? JSON.stringify({ errors: [{ code: 'UNKNOWN', message: `injected ${fault.status}` }] }));
      const headers: OutgoingHttpHeaders = { 'content-type': fault.body === undefined ? 'application/json' : 'text/plain', 'content-length': body.length };
      if (fault.retryAfter !== undefined) headers['retry-after'] = fault.retryAfter;
      return send(res, entry, fault.status, headers, method === 'HEAD' ? undefined : body);
    }
    if (fault?.kind === 'replace') {
      req.resume();
      const body = Buffer.from(fault.body);
      const headers: OutgoingHttpHeaders = { 'content-length': body.length, ...fault.headers };
      return send(res, entry, fault.status ?? 200, headers, method === 'HEAD' ? undefined : body);
    }
    if (fault?.kind === 'redirect') {
      req.resume();
      const nonce = randomBytes(8).toString('hex');
      redirects.set(nonce, req.headers.authorization);
      const u = new URL(path, proxy.blobStoreUrl);
      u.searchParams.set(REDIRECT_PARAM, nonce);
      return send(res, entry, 307, { location: u.toString(), 'content-length': 0 });
    }

    const upRes = await forward(req, path, extraAuth);
    res.once('close', () => { if (!upRes.complete) upRes.destroy(); });
    const headers = responseHeaders(upRes);
    const hasBody = method !== 'HEAD' && upRes.statusCode !== 204 && upRes.statusCode !== 304;
    const status = upRes.statusCode ?? 502;

    if (!fault || !hasBody) {
      entry.status = status;
      res.writeHead(status, headers);
      upRes.pipe(res);
      return;
    }

    switch (fault.kind) {
      case 'corrupt': {
        const body = await readAll(upRes);
        if (body.length > 0) {
          const at = Math.min(Math.max(fault.offset ?? Math.floor(body.length / 2), 0), body.length - 1);
          body[at] = body[at]! ^ 0xff;
        }
        headers['content-length'] = body.length;
        if (fault.delayMs) await sleep(fault.delayMs);
        return send(res, entry, status, headers, body);
      }
      case 'truncate': {
        let total = Number(upRes.headers['content-length']);
        let source: AsyncIterable<Buffer> | Iterable<Buffer> = upRes;
        if (!Number.isFinite(total)) {
          const body = await readAll(upRes);
          total = body.length;
          source = [body];
        }
        headers['content-length'] = total;
        const limit = Math.min(fault.bytes ?? Math.floor(total / 2), total);
        entry.status = status;
        res.writeHead(status, headers);
        let sent = 0;
        for await (const chunk of source) {
          const part = chunk.subarray(0, limit - sent);
          if (part.length > 0) await write(res, part);
          sent += part.length;
          if (sent >= limit) break;
        }
        upRes.destroy();
        res.socket?.destroy();
        res.destroy();
        return;
      }
      case 'slow': {
        entry.status = status;
        res.writeHead(status, headers);
        const step = Math.max(1, fault.bytesPerChunk);
        for await (const chunk of upRes as AsyncIterable<Buffer>) {
          for (let i = 0; i < chunk.length; i += step) {
            await sleep(fault.delayMs);
            if (stopped) throw new Error('proxy stopped');
            await write(res, chunk.subarray(i, i + step));
          }
        }
        res.end();
        return;
      }
      case 'stall': {
        entry.status = status;
        res.writeHead(status, headers);
        let sent = 0;
        if (fault.afterBytes > 0) {
          for await (const chunk of upRes as AsyncIterable<Buffer>) {
            const part = chunk.subarray(0, fault.afterBytes - sent);
            if (part.length > 0) await write(res, part);
            sent += part.length;
            if (sent >= fault.afterBytes) break;
          }
        } else {
          res.flushHeaders();
        }
        upRes.destroy();
        // hang: the socket stays open until the client gives up or stop() destroys it
        return;
      }
    }
  }

  function makeServer(via: LogEntry['via']): Server {
    const server = createServer((req, res) => {
      const entry: LogEntry = { method: req.method ?? 'GET', path: req.url ?? '/', status: 0, headers: { ...req.headers }, via };
      proxy.log.push(entry);
      handle(req, res, entry).catch((err: unknown) => {
        if (!res.headersSent && !res.destroyed) {
          send(res, entry, 502, { 'content-type': 'text/plain' }, Buffer.from(`faultproxy: ${String(err)}\n`));
        } else {
          res.destroy();
        }
      });
    });
    server.keepAliveTimeout = 1000;
    server.on('connection', (s: Socket) => { sockets.add(s); s.once('close', () => sockets.delete(s)); });
    return server;
  }

  async function listen(server: Server): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => { server.off('error', reject); resolve(); });
    });
    return (server.address() as { port: number }).port;
  }

  const main = makeServer('proxy');
  const blob = makeServer('blob-store');
  const mainPort = await listen(main);
  const blobPort = await listen(blob);
  proxy.host = `127.0.0.1:${mainPort}`;
  proxy.url = `http://${proxy.host}`;
  proxy.blobStoreUrl = `http://127.0.0.1:${blobPort}`;

  async function stop(): Promise<void> {
    if (stopped) return;
    stopped = true;
    const closed = Promise.all([main, blob].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    for (const r of upstreamRequests) r.destroy();
    for (const s of sockets) s.destroy();
    agent.destroy();
    await closed;
  }

  return proxy;
}
