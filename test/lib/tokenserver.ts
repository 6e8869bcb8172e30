// A Docker-Hub-style token server for tests ("Docker Registry v2 authentication
// via central service"), good enough for docker/distribution 2.8's `auth.token`.
//
//   GET  /token?service=S&scope=repository:NAME:pull,push[&scope=...]&account=U   (optional Basic auth)
//   POST /token   (OAuth2 form: grant_type=password&username=U&password=P&scope=...&service=S)
//
// answers {"token","access_token","expires_in","issued_at"} with an RS256 JWT whose
// header carries `kid` in libtrust format (what distribution 2.8 matches against the
// public keys of the certificates in `rootcertbundle`), or `x5c` if asked for.
import { execFile } from 'node:child_process';
import { createHash, createPrivateKey, createPublicKey, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export interface TokenServer {
  /** http://127.0.0.1:PORT/token */
  realm: string;
  service: string;
  issuer: string;
  /** path to a PEM file holding the self-signed signing certificate */
  rootCertBundle: string;
  /** one entry per token request (query = GET query or POST form, password removed) */
  requests: { query: Record<string, string>; authorized: boolean; user?: string }[];
  /** the `kid` put in (or computable for) every token */
  kid: string;
  stop(): Promise<void>;
}

export interface TokenServerOptions {
  /** user -> password. If given, anonymous requests only get pull on `anonymousPull` repos and
   *  wrong credentials get 401. If not given, any (or no) credentials get everything asked for. */
  users?: Record<string, string>;
  /** repositories anonymous users may pull when `users` is given */
  anonymousPull?: string[];
  /** default 'glassbox-registry' */
  service?: string;
  /** default 'glassbox-token-issuer' */
  issuer?: string;
  /** token lifetime in seconds, default 300 */
  expiresIn?: number;
  /** how the token names its signing key; default 'kid' */
  keyHint?: 'kid' | 'x5c' | 'both';
}

export interface AccessEntry { type: string; name: string; actions: string[] }

interface KeyMaterial { dir: string; certPath: string; key: KeyObject; kid: string; certDerB64: string }

let keyMaterial: Promise<KeyMaterial> | undefined;

/** libtrust key ID: SHA-256 of the DER SubjectPublicKeyInfo, first 240 bits, base32 (no padding),
 *  12 groups of 4 joined by ':'. */
export function libtrustKeyId(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  const b32 = base32(createHash('sha256').update(der).digest().subarray(0, 30));
  return b32.match(/.{4}/g)!.join(':');
}

function base32(buf: Buffer): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of buf) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}

function loadKeyMaterial(): Promise<KeyMaterial> {
  keyMaterial ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'glassbox-token-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    const keyPath = join(dir, 'key.pem');
    const certPath = join(dir, 'cert.pem');
    await execFileP('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '2',
      '-subj', '/CN=glassbox test token issuer', '-keyout', keyPath, '-out', certPath,
    ]);
    const key = createPrivateKey(readFileSync(keyPath));
    const cert = new X509Certificate(readFileSync(certPath));
    return {
      dir, certPath, key,
      kid: libtrustKeyId(createPublicKey(key)),
      certDerB64: cert.raw.toString('base64'),
    };
  })();
  keyMaterial.catch(() => { keyMaterial = undefined; });
  return keyMaterial;
}

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

/** parse "repository:name/with/slashes:pull,push" (also "repository(plugin):x:pull", "registry:catalog:*") */
export function parseScope(scope: string): AccessEntry | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first < 0 || last <= first) return undefined;
  const type = scope.slice(0, first).replace(/\(.*\)$/, '');
  return { type, name: scope.slice(first + 1, last), actions: scope.slice(last + 1).split(',').filter(Boolean) };
}

export async function startTokenServer(opts: TokenServerOptions = {}): Promise<TokenServer> {
  const km = await loadKeyMaterial();
  const service = opts.service ?? 'glassbox-registry';
  const issuer = opts.issuer ?? 'glassbox-token-issuer';
  const expiresIn = opts.expiresIn ?? 300;
  const keyHint = opts.keyHint ?? 'kid';
  const anonymousPull = new Set(opts.anonymousPull ?? []);
  const requests: TokenServer['requests'] = [];
  const sockets = new Set<Socket>();

  function grant(wanted: AccessEntry, user: string | undefined): AccessEntry {
    if (!opts.users || user !== undefined) {
      // open server, or an authenticated user: everything asked for
      return { ...wanted, actions: [...new Set(wanted.actions)] };
    }
    const ok = wanted.type === 'repository' && anonymousPull.has(wanted.name) && wanted.actions.includes('pull');
    return { ...wanted, actions: ok ? ['pull'] : [] };
  }

  function mint(user: string | undefined, access: AccessEntry[]): string {
    const header: Record<string, unknown> = { typ: 'JWT', alg: 'RS256' };
    if (keyHint !== 'x5c') header.kid = km.kid;
    if (keyHint !== 'kid') header.x5c = [km.certDerB64];
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      iss: issuer, sub: user ?? '', aud: service,
      exp: now + expiresIn, nbf: now - 1, iat: now,
      jti: randomBytes(16).toString('hex'),
      access,
    };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    return `${input}.${b64url(sign('sha256', Buffer.from(input), km.key))}`;
  }

  function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const data = Buffer.from(JSON.stringify(body));
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': data.length, ...headers });
    res.end(data);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== '/token' || (req.method !== 'GET' && req.method !== 'POST')) {
      req.resume();
      return send(res, 404, { errors: [{ code: 'NOT_FOUND', message: 'no such endpoint' }] });
    }
    let params = url.searchParams;
    let user: string | undefined;
    let password: string | undefined;
    if (req.method === 'POST') {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      params = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      if (params.get('grant_type') === 'password') {
        user = params.get('username') ?? undefined;
        password = params.get('password') ?? '';
      }
    } else {
      req.resume();
    }
    const authz = req.headers.authorization;
    if (authz && /^basic /i.test(authz)) {
      const decoded = Buffer.from(authz.slice(6).trim(), 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      user = colon < 0 ? decoded : decoded.slice(0, colon);
      password = colon < 0 ? '' : decoded.slice(colon + 1);
    }
    const query: Record<string, string> = {};
    for (const k of new Set(params.keys())) if (k !== 'password') query[k] = params.getAll(k).join(' ');

    if (user !== undefined && opts.users && opts.users[user] !== password) {
      requests.push({ query, authorized: false, user });
      return send(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] },
        { 'www-authenticate': `Basic realm="${realm}"` });
    }
    requests.push(user === undefined ? { query, authorized: true } : { query, authorized: true, user });

    const scopes = params.getAll('scope').flatMap((s) => s.split(' ')).filter(Boolean);
    const access = scopes.map(parseScope).filter((a): a is AccessEntry => a !== undefined).map((a) => grant(a, user));
    const token = mint(user, access);
    send(res, 200, { token, access_token: token, expires_in: expiresIn, issued_at: new Date().toISOString() });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, { errors: [{ code: 'UNKNOWN', message: String(err) }] });
      else res.destroy();
    });
  });
  server.on('connection', (s: Socket) => { sockets.add(s); s.once('close', () => sockets.delete(s)); });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => { server.off('error', reject); resolve(); });
  });
  const port = (server.address() as { port: number }).port;
  const realm = `http://127.0.0.1:${port}/token`;

  return {
    realm, service, issuer, rootCertBundle: km.certPath, requests, kid: km.kid,
    stop: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    }),
  };
}
