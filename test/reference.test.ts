import t from 'tap';
import { familiarName, formatReference, isLoopbackHost, parseReference, registryEndpointHost } from '../src/image/reference.js';
import { parsePlatform, platformMatches, formatPlatform } from '../src/image/platform.js';
import { parseChallenge, retryAfterMs } from '../src/image/registry.js';
import { selectManifest } from '../src/image/pull.js';
import { MT, type ImageIndex } from '../src/image/mediatypes.js';

const HEX = 'a'.repeat(64);

t.test('references normalize exactly as docker normalizes them', async (t) => {
  const cases: [string, string, string][] = [
    ['busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['library/busybox:1.36', 'docker.io/library/busybox:1.36', 'busybox:1.36'],
    ['docker.io/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['index.docker.io/library/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['foo/bar', 'docker.io/foo/bar:latest', 'foo/bar:latest'],
    ['localhost/foo', 'localhost/foo:latest', 'localhost/foo:latest'],
    ['localhost:5000/foo/bar:tag', 'localhost:5000/foo/bar:tag', 'localhost:5000/foo/bar:tag'],
    ['127.0.0.1:5000/busybox', '127.0.0.1:5000/busybox:latest', '127.0.0.1:5000/busybox:latest'],
    [`ghcr.io/org/app@sha256:${HEX}`, `ghcr.io/org/app@sha256:${HEX}`, `ghcr.io/org/app@sha256:${HEX}`],
    [`busybox:1@sha256:${HEX}`, `docker.io/library/busybox:1@sha256:${HEX}`, `busybox:1@sha256:${HEX}`],
    ['Foo/bar', 'Foo/bar:latest', 'Foo/bar:latest'],
    ['[::1]:5000/busybox', '[::1]:5000/busybox:latest', '[::1]:5000/busybox:latest'],
    ['a/b__c/d-e--f.g:v1.2_3', 'docker.io/a/b__c/d-e--f.g:v1.2_3', 'a/b__c/d-e--f.g:v1.2_3'],
  ];
  for (const [input, full, familiar] of cases) {
    const ref = parseReference(input);
    t.equal(formatReference(ref), full, `${input} -> ${full}`);
    t.equal(familiarName(ref), familiar, `${input} is shown as ${familiar}`);
  }
});

t.test('references docker refuses are refused with one clear line', async (t) => {
  const bad = ['', 'UPPER', HEX, 'busybox:', 'busybox@sha256:abc', 'a..b', `busybox:${'x'.repeat(129)}`, 'foo//bar', '-foo', 'foo/bar:ta/g', `${'a/'.repeat(130)}b`];
  for (const input of bad) {
    t.throws(() => parseReference(input), /invalid reference format/, `${JSON.stringify(input)} is refused`);
  }
});

t.test('docker.io is reached at registry-1.docker.io and loopback is plain HTTP', async (t) => {
  t.equal(registryEndpointHost('docker.io'), 'registry-1.docker.io');
  t.equal(registryEndpointHost('127.0.0.1:5000'), '127.0.0.1:5000');
  t.ok(isLoopbackHost('127.0.0.1:5000'));
  t.ok(isLoopbackHost('localhost'));
  t.ok(isLoopbackHost('[::1]:5000'));
  t.notOk(isLoopbackHost('registry.example:5000'));
});

t.test('platforms parse and match as containerd matches them', async (t) => {
  t.same(parsePlatform('linux/arm64'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
  t.same(parsePlatform('linux/x86_64'), { os: 'linux', architecture: 'amd64' });
  t.equal(formatPlatform(parsePlatform('linux/arm/v7')), 'linux/arm/v7');
  t.throws(() => parsePlatform('linux//'), /invalid platform/);
  t.ok(platformMatches({ os: 'linux', architecture: 'arm64', variant: 'v8' }, { os: 'linux', architecture: 'arm64' }));
  t.ok(platformMatches({ os: 'linux', architecture: 'arm', variant: 'v7' }, { os: 'linux', architecture: 'arm', variant: 'v6' }));
  t.notOk(platformMatches({ os: 'linux', architecture: 'arm', variant: 'v6' }, { os: 'linux', architecture: 'arm', variant: 'v7' }));
  t.notOk(platformMatches({ os: 'linux', architecture: 'amd64' }, { os: 'windows', architecture: 'amd64' }));
  const index: ImageIndex = {
    schemaVersion: 2,
    mediaType: MT.ociIndex,
    manifests: [
      { mediaType: MT.ociManifest, digest: `sha256:${'1'.repeat(64)}`, size: 1, platform: { os: 'linux', architecture: 'arm', variant: 'v6' } },
      { mediaType: MT.ociManifest, digest: `sha256:${'2'.repeat(64)}`, size: 1, platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
      { mediaType: MT.ociManifest, digest: `sha256:${'3'.repeat(64)}`, size: 1, platform: { os: 'linux', architecture: 'amd64' } },
    ],
  };
  t.equal(selectManifest(index, parsePlatform('linux/arm/v7'))?.digest, `sha256:${'2'.repeat(64)}`, 'the exact variant wins');
  t.equal(selectManifest(index, parsePlatform('linux/amd64'))?.digest, `sha256:${'3'.repeat(64)}`);
  t.equal(selectManifest(index, parsePlatform('linux/s390x')), undefined);
});

t.test('WWW-Authenticate challenges and Retry-After parse', async (t) => {
  t.same(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"'), {
    scheme: 'bearer',
    params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' },
  });
  t.same(parseChallenge('Basic realm="Registry Realm"'), { scheme: 'basic', params: { realm: 'Registry Realm' } });
  t.equal(parseChallenge('Negotiate abc'), undefined);
  t.equal(retryAfterMs('3'), 3000);
  t.equal(retryAfterMs(new Date(Date.now() + 5000).toUTCString(), Date.now()) !== undefined, true);
  t.equal(retryAfterMs('soon'), undefined);
});
