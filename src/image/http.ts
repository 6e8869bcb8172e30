// One GET over Node's own http/https, with the little of fetch's Response the
// registry client needs. Not fetch: its body stream leaves every chunk to
// the garbage collector of the thread that read it, which on a 100 MB pull
// costs tens of MB of memory; an IncomingMessage reads from the socket only
// as fast as it is consumed.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { rootCertificates } from 'node:tls';

export interface HttpResponse {
  status: number;
  ok: boolean;
  url: string;
  header(name: string): string | null;
  body: Readable;
  /** Drop the body (frees the connection). */
  discard(): void;
  text(limit?: number): Promise<string>;
}

/**
 * NODE_EXTRA_CA_CERTS, as Node means it: the well-known roots plus the
 * certificates in that file. The glassbox command (src/cli/bin.ts) takes the
 * variable out of Node's way and hands it over as GLASSBOX_EXTRA_CA_CERTS,
 * because Node reads and parses the file at every start, ~30 ms before any
 * code runs, and only a pull over TLS needs it. Started with node itself, the
 * variable is Node's, and Node's own store already holds the certificates.
 */
function extraTrust(): { ca?: string[] } {
  const file = process.env.GLASSBOX_EXTRA_CA_CERTS;
  if (!file) return {};
  try {
    return { ca: [...rootCertificates, readFileSync(file, 'utf8')] };
  } catch (e) {
    // Node's words, at the same point: the pull goes on with the well-known roots.
    process.emitWarning(`Ignoring extra certs from \`${file}\`, load failed: ${(e as Error).message}`);
    return {};
  }
}

const agents = {
  http: new http.Agent({ keepAlive: true, maxSockets: 16 }),
  https: new https.Agent({ keepAlive: true, maxSockets: 16, ...extraTrust() }),
};

export interface GetOptions {
  headers: Record<string, string>;
  /** Give up if no response headers arrive in this long. */
  timeoutMs: number;
  signal?: AbortSignal;
}

export function httpGet(url: string, o: GetOptions): Promise<HttpResponse> {
  const u = new URL(url);
  const secure = u.protocol === 'https:';
  if (!secure && u.protocol !== 'http:') return Promise.reject(new Error(`unsupported URL scheme ${u.protocol}`));
  return new Promise((resolve, reject) => {
    const req = (secure ? https : http).get(u, { headers: o.headers, agent: secure ? agents.https : agents.http, signal: o.signal });
    const timer = setTimeout(() => req.destroy(Object.assign(new Error(`no answer in ${o.timeoutMs} ms`), { code: 'ETIMEDOUT' })), o.timeoutMs);
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.on('response', (res) => {
      clearTimeout(timer);
      const status = res.statusCode ?? 0;
      resolve({
        status,
        ok: status >= 200 && status < 300,
        url,
        header: (name) => {
          const v = res.headers[name.toLowerCase()];
          return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
        },
        body: res,
        discard: () => {
          res.resume();
        },
        text: async (limit = 1 << 20) => {
          const chunks: Buffer[] = [];
          let n = 0;
          for await (const c of res) {
            n += (c as Buffer).length;
            if (n > limit) {
              res.destroy();
              break;
            }
            chunks.push(c as Buffer);
          }
          return Buffer.concat(chunks).toString('utf8');
        },
      });
    });
  });
}
