// A real registry for tests: Debian's `docker-registry` (distribution 2.8) on
// 127.0.0.1 and a free port, optionally behind htpasswd basic auth or bearer
// tokens, with images pushed into it by skopeo.
//
// The registry runs under a small sh watchdog whose stdin is a pipe from this
// process: when this process dies, however it dies, the pipe closes and the
// watchdog kills the registry. A normal exit also kills it synchronously.

import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface RegistryOptions {
  /** Basic auth with a single user (bcrypt htpasswd file made by `htpasswd -Bbn`). */
  htpasswd?: { user: string; password: string };
  /** Bearer token auth; a token server elsewhere must issue the tokens. */
  token?: { realm: string; service: string; issuer: string; rootCertBundle: string };
}

export interface PushOptions {
  /** Copy every image of an index (`skopeo copy --all`). */
  all?: boolean;
  /** `user:password` for the registry; defaults to the htpasswd user if any. */
  creds?: string;
  /** Manifest format skopeo writes: OCI as in the layout (default), or Docker schema 2. */
  format?: 'oci' | 'v2s2';
  /** Tag in the layout to push (default "latest"). */
  tag?: string;
}

export interface Registry {
  /** "127.0.0.1:PORT" */
  host: string;
  /** "http://127.0.0.1:PORT" */
  url: string;
  /** `user:password` when started with htpasswd, else undefined. */
  creds?: string;
  /** Kills the registry and removes its storage. Safe to call twice. */
  stop(): Promise<void>;
  /** `skopeo copy oci:LAYOUT:latest docker://HOST/NAME`; NAME is like "library/busybox:latest". */
  push(layoutDir: string, name: string, opts?: PushOptions): Promise<void>;
}

// Registry pids still alive, killed synchronously if this process exits; their
// sh wrappers then reap them and remove their directories.
const live = new Set<number>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const pid of live) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

// sh -c WATCHDOG glassbox-registry CONFIG DIR
// Starts the registry, prints its pid, waits for it, then removes DIR. The
// watcher reads the original stdin (fd 3: a background job's own stdin is
// /dev/null) and kills the registry at EOF, i.e. when the parent goes away,
// however it goes (SIGKILL included). The shell's own stderr is /dev/null:
// its "Terminated" job message to a dead parent's pipe would be a SIGPIPE.
const WATCHDOG = `
exec 3<&0 </dev/null 4>&2 2>/dev/null
docker-registry serve "$1" 2>&4 4>&- &
reg=$!
echo "$reg"
( while read -r _ <&3; do :; done; kill -TERM "$reg" 2>/dev/null ) &
watcher=$!
wait "$reg"
rc=$?
kill "$watcher" 2>/dev/null
rm -rf "$2"
exit "$rc"
`;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error('no free port'))));
    });
  });
}

function run(cmd: string, args: string[], timeoutMs = 300_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 64 * 1024 * 1024, timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      } else {
        resolve(stdout);
      }
    });
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Starts a registry; see RegistryOptions. Always call stop() (e.g. in t.teardown). */
export async function startRegistry(opts: RegistryOptions = {}): Promise<Registry> {
  if (opts.htpasswd && opts.token) throw new Error('startRegistry: htpasswd and token are exclusive');
  const htpasswdLine = opts.htpasswd
    ? (await run('htpasswd', ['-Bbn', opts.htpasswd.user, opts.htpasswd.password])).trim() + '\n'
    : undefined;
  const creds = opts.htpasswd ? `${opts.htpasswd.user}:${opts.htpasswd.password}` : undefined;

  let lastError: Error | undefined;
  // The port is found free and then given to the registry; another process
  // may take it in between, so try a few ports, each in a fresh directory.
  for (let attempt = 0; attempt < 5; attempt++) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'glassbox-registry-'));
    try {
      let auth: Record<string, unknown> | undefined;
      if (htpasswdLine !== undefined) {
        const file = path.join(dir, 'htpasswd');
        await writeFile(file, htpasswdLine, { mode: 0o600 });
        auth = { htpasswd: { realm: 'glassbox-test', path: file } };
      } else if (opts.token) {
        auth = {
          token: {
            realm: opts.token.realm,
            service: opts.token.service,
            issuer: opts.token.issuer,
            rootcertbundle: opts.token.rootCertBundle,
          },
        };
      }
      const host = `127.0.0.1:${await freePort()}`;
      // JSON is YAML, and saves us from quoting anything.
      const config = {
        version: '0.1',
        log: { level: 'error', accesslog: { disabled: true } },
        storage: {
          filesystem: { rootdirectory: path.join(dir, 'storage') },
          delete: { enabled: true },
          redirect: { disable: true },
          maintenance: { uploadpurging: { enabled: false } },
        },
        http: { addr: host, secret: randomBytes(16).toString('hex') },
        ...(auth ? { auth } : {}),
      };
      const configFile = path.join(dir, 'config.yml');
      await writeFile(configFile, JSON.stringify(config, null, 2) + '\n');
      const started = await launch(configFile, dir, host);
      const registry: Registry = {
        host,
        url: `http://${host}`,
        stop: async () => {
          await started.stop();
          await rm(dir, { recursive: true, force: true });
        },
        push: async (layoutDir, name, pushOpts = {}) => {
          const args = ['--insecure-policy', 'copy', '--quiet', '--dest-tls-verify=false'];
          if (pushOpts.all) args.push('--all');
          if (pushOpts.format) args.push('--format', pushOpts.format);
          const c = pushOpts.creds ?? creds;
          if (c !== undefined) args.push('--dest-creds', c);
          else args.push('--dest-no-creds');
          args.push(`oci:${layoutDir}:${pushOpts.tag ?? 'latest'}`, `docker://${host}/${name}`);
          await run('skopeo', args);
        },
      };
      if (creds !== undefined) registry.creds = creds;
      return registry;
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      lastError = err as Error;
      if (!/address already in use/i.test(lastError.message)) break;
    }
  }
  throw lastError ?? new Error('registry did not start');
}

async function launch(configFile: string, dir: string, host: string): Promise<{ stop(): Promise<void> }> {
  installExitHook();
  const child = spawn('sh', ['-c', WATCHDOG, 'glassbox-registry', configFile, dir], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    if (stderr.length < 64 * 1024) stderr += d;
  });
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    // 'close', not 'exit': the registry's stderr is read to its end by then.
    child.on('close', () => {
      exited = true;
      resolve();
    });
    child.on('error', (err) => {
      stderr += String(err);
      exited = true;
      resolve();
    });
  });
  // Keep the test process from waiting on the registry's pipes at the end.
  child.stdin.on('error', () => {});

  const pid = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8');
    const onData = (d: string) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        child.stdout.off('data', onData);
        child.stdout.resume();
        resolve(Number(out.slice(0, nl)));
      }
    };
    child.stdout.on('data', onData);
    void exit.then(() => reject(new Error(`registry exited at once: ${stderr}`)));
  });
  live.add(pid);

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
      child.stdin.end();
      const killer = setTimeout(() => {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
        child.kill('SIGKILL');
      }, 5000);
      await exit;
      clearTimeout(killer);
      live.delete(pid);
    })();
    return stopped;
  };

  // Ready when /v2/ answers 200 (open) or 401 (auth).
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(`registry on ${host} exited: ${stderr.trim()}`);
    }
    try {
      const res = await fetch(`http://${host}/v2/`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200 || res.status === 401) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`registry on ${host} did not answer /v2/ in time: ${stderr.trim()}`);
    }
    await sleep(50);
  }
  // A registry someone forgot to stop must not keep the test process alive;
  // the exit hook (or the watchdog) still kills it.
  child.unref();
  for (const s of [child.stdin, child.stdout, child.stderr]) {
    (s as unknown as { unref?: () => void }).unref?.();
  }
  return { stop };
}
