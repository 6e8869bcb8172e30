// A pull over TLS from a registry whose certificate a CA of the test's own
// signed: trusted through NODE_EXTRA_CA_CERTS, as Node means it, whether
// glassbox is started as a command (its first line hands the variable over
// under a name of its own: src/cli/bin.ts, src/image/http.ts) or with node.
// The registry is Debian's docker-registry behind a TLS front written here,
// on this host's own non-loopback address (loopback is plain HTTP, as docker has it).
import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { fixtureImages } from './lib/fixtures.js';
import { repoRoot } from './lib/fixtures.js';
import { startRegistry } from './lib/registry.js';

const BIN = join(repoRoot(), 'dist/src/cli/bin.js');

/** An address of this host that is not loopback: glassbox speaks TLS to it. */
function hostAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return undefined;
}

const addr = hostAddress();

t.test('a pull over TLS trusts NODE_EXTRA_CA_CERTS', { skip: addr ? false : 'this host has no IPv4 address but loopback, where glassbox speaks plain HTTP' }, async (t) => {
  const dir = mkdtempSync('/tmp/glassbox-tls-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  // A CA, and a server certificate for the address, signed by it.
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=glassbox test CA');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', `/CN=${addr}`);
  writeFileSync(join(dir, 'ext.cnf'), `subjectAltName=IP:${addr}\n`);
  ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '1', '-extfile', 'ext.cnf');

  const fx = await fixtureImages();
  const reg = await startRegistry();
  t.teardown(() => reg.stop());
  await reg.push(fx.layout('busybox'), 'tls/busybox:latest');

  // The TLS front: every request passed to the registry as it came.
  const [regHost, regPort] = reg.host.split(':');
  const front = https.createServer({ key: execFileSync('cat', [join(dir, 'server.key')]), cert: execFileSync('cat', [join(dir, 'server.pem')]) }, (req, res) => {
    const up = http.request({ host: regHost, port: Number(regPort), method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => front.listen(0, addr, r));
  t.teardown(() => new Promise<void>((r) => front.close(() => r())));
  front.on('connection', (s) => t.teardown(() => s.destroy()));
  const image = `${addr}:${(front.address() as AddressInfo).port}/tls/busybox:latest`;

  // Not spawnSync: the TLS front runs in this process and must go on serving.
  const pull = async (how: 'command' | 'node', extra: string | undefined) => {
    const root = join(dir, `store-${how}-${extra ? 'ca' : 'none'}`);
    const env = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    delete env.GLASSBOX_EXTRA_CA_CERTS;
    if (extra) env.NODE_EXTRA_CA_CERTS = extra;
    const args = ['--root', root, 'pull', '-q', image];
    const child = how === 'command' ? spawn(BIN, args, { env, timeout: 60_000 }) : spawn(process.execPath, [BIN, ...args], { env, timeout: 60_000 });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdout.resume();
    const status = await new Promise<number | null>((r) => child.on('close', r));
    return { status, stderr, root };
  };

  for (const how of ['command', 'node'] as const) {
    const ok = await pull(how, join(dir, 'ca.pem'));
    t.equal(ok.status, 0, `${how}: the pull succeeds with the CA in NODE_EXTRA_CA_CERTS: ${ok.stderr}`);
    t.ok(readdirSync(join(ok.root, 'layers', 'sha256')).length > 0, `${how}: the layer is unpacked`);

    const refused = await pull(how, undefined);
    t.not(refused.status, 0, `${how}: without the CA the pull fails`);
    const lines = refused.stderr.trim().split('\n');
    t.equal(lines.length, 1, `${how}: in one line: ${refused.stderr}`);
    t.match(lines[0], /certificate/i, `${how}: naming the certificate`);
    t.same(existsSync(join(refused.root, 'layers', 'sha256')) ? readdirSync(join(refused.root, 'layers', 'sha256')) : [], [], `${how}: nothing is unpacked`);
  }

  // A file that cannot be read: Node's own warning, and the well-known roots only.
  const missing = await pull('command', join(dir, 'no-such.pem'));
  t.not(missing.status, 0);
  t.match(missing.stderr, /Ignoring extra certs from `.*no-such\.pem`, load failed/);
});
