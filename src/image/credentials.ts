// Registry credentials, found where docker keeps them: ~/.docker/config.json
// (or $DOCKER_CONFIG/config.json) `auths`, `credHelpers` and `credsStore`.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_DOMAIN } from './reference.js';

export interface Credentials {
  username: string;
  password: string;
}

interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

export function dockerConfigPath(): string {
  const dir = process.env.DOCKER_CONFIG ?? join(homedir(), '.docker');
  return join(dir, 'config.json');
}

/** The keys docker may have stored a registry's credentials under. */
function keysFor(domain: string): string[] {
  if (domain === DEFAULT_DOMAIN) {
    return ['https://index.docker.io/v1/', 'index.docker.io', 'docker.io', 'https://docker.io', 'registry-1.docker.io'];
  }
  return [domain, `https://${domain}`, `http://${domain}`, `https://${domain}/v1/`, `https://${domain}/v2/`];
}

function fromHelper(helper: string, server: string): Promise<Credentials | undefined> {
  return new Promise((resolve) => {
    const child = execFile(`docker-credential-${helper}`, ['get'], { timeout: 10_000 }, (err, stdout) => {
      if (err) return resolve(undefined);
      try {
        const out = JSON.parse(stdout) as { Username?: string; Secret?: string };
        if (out.Username && out.Secret) return resolve({ username: out.Username, password: out.Secret });
      } catch {
        // fall through: the helper answered something that is no credential
      }
      resolve(undefined);
    });
    child.stdin?.end(server);
  });
}

export async function findCredentials(domain: string, configPath = dockerConfigPath()): Promise<Credentials | undefined> {
  let cfg: DockerConfig;
  try {
    cfg = JSON.parse(await readFile(configPath, 'utf8')) as DockerConfig;
  } catch {
    return undefined;
  }
  const keys = keysFor(domain);
  const helper = cfg.credHelpers?.[domain] ?? cfg.credsStore;
  if (helper) {
    const c = await fromHelper(helper, keys[0]!);
    if (c) return c;
  }
  for (const k of keys) {
    const entry = cfg.auths?.[k];
    if (!entry) continue;
    if (entry.username && entry.password) return { username: entry.username, password: entry.password };
    if (entry.auth) {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      if (i > 0) return { username: decoded.slice(0, i), password: decoded.slice(i + 1) };
    }
  }
  return undefined;
}
