import t from 'tap';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startFaultProxy, type FaultProxy } from './lib/faultproxy.js';
import { startTokenServer, type TokenServer } from './lib/tokenserver.js';

const execFileP = promisify(execFile);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// A tiny docker-registry starter, local to this test (test/lib/registry.ts is the shared one).

interface LocalRegistry { url: string; host: string; stop(): Promise<void> }

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

async function startLocalRegistry(token?: Pick<TokenServer, 'realm' | 'service' | 'issuer' | 'rootCertBundle'>): Promise<LocalRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'glassbox-reg-'));
  const port = await freePort();
  const auth = token
    ? `auth:\n  token:\n    realm: ${JSON.stringify(token.realm)}\n    service: ${JSON.stringify(token.service)}\n` +
      `    issuer: ${JSON.stringify(token.issuer)}\n    rootcertbundle: ${JSON.stringify(token.rootCertBundle)}\n`
    : '';
  await writeFile(join(dir, 'config.yml'),
    `version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n` +
    `storage:\n  filesystem:\n    rootdirectory: ${JSON.stringify(join(dir, 'data'))}\n  delete:\n    enabled: true\n` +
    `http:\n  addr: 127.0.0.1:${port}\n  secret: glassbox-test\n${auth}`);
  const child: ChildProcess = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`docker-registry exited: ${stderr}`);
    }
    try {
      await fetch(`${url}/v2/`);
      break;
    } catch {
      if (i > 200) { await stop(); throw new Error(`docker-registry did not start: ${stderr}`); }
      await sleep(50);
    }
  }
  return { url, host: `127.0.0.1:${port}`, stop };
}

// ---------------------------------------------------------------------------------------------

const sha256 = (b: Buffer | string): string => 'sha256:' + createHash('sha256').update(b).digest('hex');
const basic = (user: string, pw: string): string => 'Basic ' + Buffer.from(`${user}:${pw}`).toString('base64');

async function pushBlob(base: string, repo: string, data: Buffer, headers: Record<string, string> = {}): Promise<{ digest: string; location: string }> {
  const start = await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers });
  if (start.status !== 202) throw new Error(`upload start: ${start.status} ${await start.text()}`);
  const loc = new URL(start.headers.get('location')!, base);
  const digest = sha256(data);
  loc.searchParams.set('digest', digest);
  const put = await fetch(loc, { method: 'PUT', headers: { ...headers, 'content-type': 'application/octet-stream' }, body: data });
  if (put.status !== 201) throw new Error(`upload put: ${put.status} ${await put.text()}`);
  return { digest, location: start.headers.get('location')! };
}

async function getToken(ts: TokenServer, scope: string | undefined, auth?: string): Promise<{ status: number; token?: string }> {
  const u = new URL(ts.realm);
  u.searchParams.set('service', ts.service);
  if (scope) u.searchParams.set('scope', scope);
  const res = await fetch(u, auth ? { headers: { authorization: auth } } : {});
  if (res.status !== 200) { await res.arrayBuffer(); return { status: res.status }; }
  const body = (await res.json()) as { token: string; access_token: string; expires_in: number; issued_at: string };
  if (body.token !== body.access_token || body.expires_in !== 300 || !body.issued_at) throw new Error('bad token response');
  return { status: 200, token: body.token };
}

function decodeJwt(jwt: string): { header: Record<string, unknown>; claims: Record<string, unknown> } {
  const [h, c] = jwt.split('.');
  return {
    header: JSON.parse(Buffer.from(h!, 'base64url').toString()) as Record<string, unknown>,
    claims: JSON.parse(Buffer.from(c!, 'base64url').toString()) as Record<string, unknown>,
  };
}

/** read a response body, counting bytes, until it ends or errors */
async function readCounting(res: Response): Promise<{ bytes: Buffer; error?: unknown }> {
  const chunks: Uint8Array[] = [];
  try {
    for await (const c of res.body as unknown as AsyncIterable<Uint8Array>) chunks.push(c);
    return { bytes: Buffer.concat(chunks) };
  } catch (error) {
    return { bytes: Buffer.concat(chunks), error };
  }
}

// ---------------------------------------------------------------------------------------------

t.test('token server + docker-registry with token auth', async (t) => {
  const ts = await startTokenServer({ users: { alice: 'secret' }, anonymousPull: ['public/hello'] });
  t.teardown(() => ts.stop());
  const reg = await startLocalRegistry(ts);
  t.teardown(() => reg.stop());

  const challenge = await fetch(`${reg.url}/v2/`);
  t.equal(challenge.status, 401, 'GET /v2/ without a token is 401');
  t.equal(challenge.headers.get('www-authenticate'), `Bearer realm="${ts.realm}",service="${ts.service}"`, 'Bearer challenge names realm and service');

  // anonymous token, no scope: enough for /v2/
  const anon = await getToken(ts, undefined);
  t.equal(anon.status, 200);
  const { header, claims } = decodeJwt(anon.token!);
  t.equal(header.alg, 'RS256');
  t.match(header.kid, /^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/, 'kid is in libtrust format');
  t.equal(header.kid, (await import('./lib/tokenserver.js')).libtrustKeyId((await import('node:crypto')).createPublicKey(
    (await import('node:fs')).readFileSync(ts.rootCertBundle))), 'kid derives from the certificate key');
  t.match(claims, { iss: ts.issuer, sub: '', aud: ts.service, access: [] });
  for (const k of ['exp', 'nbf', 'iat', 'jti']) t.ok(claims[k], `claim ${k}`);
  const base = await fetch(`${reg.url}/v2/`, { headers: { authorization: `Bearer ${anon.token}` } });
  t.equal(base.status, 200, 'GET /v2/ with an anonymous bearer token is 200');

  // a tampered token is refused, so the registry really checks signatures
  const tampered = anon.token!.slice(0, -4) + (anon.token!.endsWith('AAAA') ? 'BBBB' : 'AAAA');
  t.equal((await fetch(`${reg.url}/v2/`, { headers: { authorization: `Bearer ${tampered}` } })).status, 401, 'tampered token refused');

  // wrong password
  const bad = await getToken(ts, 'repository:private/app:pull,push', basic('alice', 'nope'));
  t.equal(bad.status, 401, 'wrong password is 401');
  t.match(ts.requests.at(-1), { authorized: false, user: 'alice', query: { scope: 'repository:private/app:pull,push' } });

  // alice can push to any repo
  const push = await getToken(ts, 'repository:private/app:pull,push', basic('alice', 'secret'));
  t.match(decodeJwt(push.token!).claims, { sub: 'alice', access: [{ type: 'repository', name: 'private/app', actions: ['pull', 'push'] }] });
  t.match(ts.requests.at(-1), { authorized: true, user: 'alice' });
  const blob = randomBytes(4096);
  const { digest } = await pushBlob(reg.url, 'private/app', blob, { authorization: `Bearer ${push.token}` });
  const got = await fetch(`${reg.url}/v2/private/app/blobs/${digest}`, { headers: { authorization: `Bearer ${push.token}` } });
  t.equal(got.status, 200);
  t.ok(Buffer.from(await got.arrayBuffer()).equals(blob), 'blob upload + download with a bearer token');

  // anonymous gets nothing on a private repo
  const anonPriv = await getToken(ts, 'repository:private/app:pull');
  t.match(decodeJwt(anonPriv.token!).claims, { access: [{ type: 'repository', name: 'private/app', actions: [] }] });
  const denied = await fetch(`${reg.url}/v2/private/app/blobs/${digest}`, { headers: { authorization: `Bearer ${anonPriv.token}` } });
  await denied.arrayBuffer();
  t.equal(denied.status, 401, 'anonymous pull of a private repo is refused');
  t.match(denied.headers.get('www-authenticate'), /scope="repository:private\/app:pull"/);

  // anonymous may not push to the public repo either
  const anonPush = await getToken(ts, 'repository:public/hello:pull,push');
  t.match(decodeJwt(anonPush.token!).claims, { access: [{ name: 'public/hello', actions: ['pull'] }] });

  // skopeo pushes an umoci-built image through token auth
  const work = await mkdtemp(join(tmpdir(), 'glassbox-oci-'));
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const layout = join(work, 'layout');
  await execFileP('umoci', ['init', '--layout', layout]);
  await execFileP('umoci', ['new', '--image', `${layout}:latest`]);
  const before = ts.requests.length;
  await execFileP('skopeo', ['--insecure-policy', 'copy', '--dest-tls-verify=false', '--dest-creds', 'alice:secret',
    `oci:${layout}:latest`, `docker://${reg.host}/public/hello:latest`], { env: { ...process.env, TMPDIR: work }, timeout: 60_000 });
  t.ok(ts.requests.slice(before).some((r) => r.user === 'alice' && /public\/hello:.*push/.test(r.query.scope ?? '')), 'skopeo fetched a push token as alice');

  // and anyone can pull it anonymously
  const pull = await getToken(ts, 'repository:public/hello:pull');
  const manifest = await fetch(`${reg.url}/v2/public/hello/manifests/latest`, {
    headers: { authorization: `Bearer ${pull.token}`, accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' },
  });
  t.equal(manifest.status, 200, 'anonymous pull of the pushed manifest');
  const m = (await manifest.json()) as { config?: { digest: string } };
  t.match(m.config?.digest, /^sha256:/);

  // tokens that carry the certificate in x5c instead of kid are accepted too
  const ts2 = await startTokenServer({ keyHint: 'x5c' });
  t.teardown(() => ts2.stop());
  t.equal(ts2.rootCertBundle, ts.rootCertBundle, 'key material is shared per process');
  const x5c = await getToken(ts2, 'repository:public/hello:pull');
  const h2 = decodeJwt(x5c.token!).header;
  t.notOk(h2.kid);
  t.equal((h2.x5c as string[]).length, 1);
  const viaX5c = await fetch(`${reg.url}/v2/public/hello/manifests/latest`, {
    method: 'HEAD', headers: { authorization: `Bearer ${x5c.token}`, accept: 'application/vnd.oci.image.manifest.v1+json' },
  });
  t.equal(viaX5c.status, 200, 'x5c-signed token accepted');
});

t.test('fault proxy in front of a plain registry', async (t) => {
  const reg = await startLocalRegistry();
  t.teardown(() => reg.stop());
  const proxy = await startFaultProxy(reg.url);
  t.teardown(() => proxy.stop());
  t.match(proxy.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  t.equal(proxy.url, `http://${proxy.host}`);

  // uploads go through the proxy; upstream Location headers are rewritten to the proxy
  const blob = randomBytes(64 * 1024);
  const { digest, location } = await pushBlob(proxy.url, 'test/blob', blob);
  t.ok(location.startsWith(`${proxy.url}/v2/test/blob/blobs/uploads/`), `Location rewritten to the proxy (${location})`);
  t.notOk(proxy.log.some((e) => e.via !== 'proxy'));
  const blobPath = `/v2/test/blob/blobs/${digest}`;
  const blobUrl = proxy.url + blobPath;

  const clean = await fetch(blobUrl);
  t.equal(clean.status, 200);
  t.ok(Buffer.from(await clean.arrayBuffer()).equals(blob), 'no rule: forwarded untouched');
  t.match(proxy.log.at(-1), { method: 'GET', path: blobPath, status: 200, fault: undefined, via: 'proxy' });

  await t.test('corrupt', async (t) => {
    proxy.rules = [{ match: /^GET \/v2\/.*\/blobs\/sha256:/, fault: { kind: 'corrupt' }, times: 1 }];
    const res = await fetch(blobUrl);
    const body = Buffer.from(await res.arrayBuffer());
    t.equal(body.length, blob.length);
    const diffs = [...body.keys()].filter((i) => body[i] !== blob[i]);
    t.same(diffs, [blob.length / 2], 'exactly the middle byte differs');
    t.not(sha256(body), digest);
    t.match(proxy.log.at(-1), { path: blobPath, status: 200, fault: 'corrupt' });
    proxy.rules = [{ match: /blobs/, fault: { kind: 'corrupt', offset: 7 } }];
    const body2 = Buffer.from(await (await fetch(blobUrl)).arrayBuffer());
    t.same([...body2.keys()].filter((i) => body2[i] !== blob[i]), [7], 'offset honoured');
    const head = await fetch(blobUrl, { method: 'HEAD' });
    t.equal(head.headers.get('content-length'), String(blob.length), 'HEAD passes through');
    t.match(proxy.log.at(-1), { method: 'HEAD', fault: undefined, status: 200 });
  });

  await t.test('truncate', async (t) => {
    proxy.rules = [{ match: /blobs\/sha256:/, fault: { kind: 'truncate' }, times: 1 }];
    const res = await fetch(blobUrl);
    t.equal(res.status, 200);
    t.equal(res.headers.get('content-length'), String(blob.length), 'real Content-Length');
    const { bytes, error } = await readCounting(res);
    t.ok(error, `reading the body fails (${String(error)})`);
    t.ok(bytes.length < blob.length, `short body: ${bytes.length} < ${blob.length}`);
    t.ok(bytes.equals(blob.subarray(0, bytes.length)), 'what arrived is a prefix');
    await t.rejects(async () => {
      proxy.rules = [{ match: /blobs\/sha256:/, fault: { kind: 'truncate', bytes: 100 }, times: 1 }];
      await (await fetch(blobUrl)).arrayBuffer();
    }, 'arrayBuffer() rejects on a truncated body');
    const ok = await fetch(blobUrl);
    t.ok(Buffer.from(await ok.arrayBuffer()).equals(blob), 'times used up: next request is whole');
  });

  await t.test('status with Retry-After, times: 1', async (t) => {
    proxy.rules = [{ match: /^GET .*\/blobs\//, fault: { kind: 'status', status: 429, retryAfter: '2' }, times: 1 }];
    const n = proxy.log.length;
    const first = await fetch(blobUrl);
    t.equal(first.status, 429);
    t.equal(first.headers.get('retry-after'), '2');
    t.match(await first.json(), { errors: [{ code: 'UNKNOWN' }] });
    const second = await fetch(blobUrl);
    t.equal(second.status, 200, 'next request forwarded');
    t.ok(Buffer.from(await second.arrayBuffer()).equals(blob));
    t.match(proxy.log.slice(n), [{ status: 429, fault: 'status' }, { status: 200, fault: undefined }]);
    t.equal(proxy.log.slice(n).filter((e) => e.path === blobPath).length, 2, 'the blob was requested exactly twice');

    proxy.rules = [{ match: /^HEAD /, fault: { kind: 'status', status: 500, body: 'boom' }, times: 2 }];
    t.equal((await fetch(blobUrl, { method: 'HEAD' })).status, 500);
    const r500 = await fetch(blobUrl, { method: 'HEAD' });
    t.equal(r500.status, 500);
    t.equal((await fetch(blobUrl, { method: 'HEAD' })).status, 200, 'third HEAD forwarded');
  });

  await t.test('slow', async (t) => {
    proxy.rules = [{ match: /blobs/, fault: { kind: 'slow', bytesPerChunk: 8192, delayMs: 10 } }];
    const t0 = Date.now();
    const res = await fetch(blobUrl);
    const body = Buffer.from(await res.arrayBuffer());
    const elapsed = Date.now() - t0;
    t.ok(body.equals(blob), 'slow still delivers everything');
    t.ok(elapsed >= 70, `took a while (${elapsed} ms for 8 chunks of 10 ms)`);
    t.match(proxy.log.at(-1), { fault: 'slow', status: 200 });
  });

  await t.test('stall', async (t) => {
    proxy.rules = [{ match: /blobs/, fault: { kind: 'stall', afterBytes: 1000 }, times: 1 }];
    const ac = new AbortController();
    const res = await fetch(blobUrl, { signal: ac.signal });
    t.equal(res.headers.get('content-length'), String(blob.length));
    const reader = res.body!.getReader();
    let got = 0;
    let aborted = false;
    const timer = setTimeout(() => { aborted = true; ac.abort(); }, 400);
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        got += value.length;
      }
    } catch {
      // aborted
    }
    clearTimeout(timer);
    t.ok(aborted, 'the body hung');
    t.equal(got, 1000, 'exactly afterBytes arrived');
  });

  await t.test('replace', async (t) => {
    proxy.rules = [{
      match: /manifests\/weird$/,
      fault: { kind: 'replace', headers: { 'content-type': 'application/vnd.example.unknown+json', 'docker-content-digest': 'sha256:abc' }, body: '{"hello":1}' },
    }];
    const res = await fetch(`${proxy.url}/v2/test/blob/manifests/weird`);
    t.equal(res.status, 200);
    t.equal(res.headers.get('content-type'), 'application/vnd.example.unknown+json');
    t.equal(await res.text(), '{"hello":1}');
    t.match(proxy.log.at(-1), { fault: 'replace', status: 200 });
    t.equal((await fetch(`${proxy.url}/v2/test/blob/manifests/other`)).status, 404, 'non-matching request forwarded');
  });

  await t.test('redirect', async (t) => {
    proxy.rules = [{ match: /blobs\/sha256:/, fault: { kind: 'redirect', to: 'self-blob-store' } }];
    const manual = await fetch(blobUrl, { redirect: 'manual' });
    t.equal(manual.status, 307);
    const loc = new URL(manual.headers.get('location')!);
    t.equal(loc.origin, proxy.blobStoreUrl);
    t.not(loc.port, new URL(proxy.url).port, 'another port');
    t.equal(loc.pathname, blobPath);
    const n = proxy.log.length;
    const res = await fetch(blobUrl);
    t.equal(res.status, 200);
    t.equal(new URL(res.url).origin, proxy.blobStoreUrl, 'followed to the blob store');
    t.ok(Buffer.from(await res.arrayBuffer()).equals(blob), 'body arrives whole');
    t.match(proxy.log.slice(n), [{ via: 'proxy', status: 307, fault: 'redirect' }, { via: 'blob-store', status: 200 }]);
  });

  await t.test('stop() closes hung sockets', async (t) => {
    const p2 = await startFaultProxy(reg.url);
    p2.rules = [{ match: /blobs/, fault: { kind: 'stall', afterBytes: 10 } }];
    const res = await fetch(p2.url + blobPath);
    const pending = readCounting(res);
    await sleep(100);
    await p2.stop();
    const { bytes, error } = await pending;
    t.equal(bytes.length, 10);
    t.ok(error, 'the hung body errors once the proxy stops');
    await t.rejects(fetch(p2.url + '/v2/'), 'nothing listens any more');
  });
});

t.test('fault proxy redirect in front of a token-auth registry', async (t) => {
  const ts = await startTokenServer({ users: { alice: 'secret' } });
  t.teardown(() => ts.stop());
  const reg = await startLocalRegistry(ts);
  t.teardown(() => reg.stop());
  const proxy: FaultProxy = await startFaultProxy(reg.url);
  t.teardown(() => proxy.stop());

  const tok = await getToken(ts, 'repository:sec/app:pull,push', basic('alice', 'secret'));
  const auth = { authorization: `Bearer ${tok.token}` };
  const blob = randomBytes(10_000);
  const { digest } = await pushBlob(proxy.url, 'sec/app', blob, auth);

  const unauth = await fetch(`${proxy.url}/v2/`);
  t.equal(unauth.status, 401);
  t.equal(unauth.headers.get('www-authenticate'), `Bearer realm="${ts.realm}",service="${ts.service}"`, 'challenge passes through the proxy untouched');

  proxy.rules = [{ match: /^GET .*\/blobs\/sha256:/, fault: { kind: 'redirect', to: 'self-blob-store' } }];
  const n = proxy.log.length;
  const res = await fetch(`${proxy.url}/v2/sec/app/blobs/${digest}`, { headers: auth });
  t.equal(res.status, 200);
  t.ok(Buffer.from(await res.arrayBuffer()).equals(blob), 'redirected blob arrives whole without Authorization on the other origin');
  const [first, second] = proxy.log.slice(n);
  t.equal(first?.headers.authorization, auth.authorization, 'the registry request carried the token');
  t.match(second, { via: 'blob-store', status: 200 });
  t.equal(second?.headers.authorization, undefined, 'fetch dropped Authorization on the cross-origin redirect');
});
