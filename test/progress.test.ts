// Pull progress on a real terminal (tmux): one line per layer, redrawn in
// place like docker pull's; piped, one plain line per state change.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { fixtureImages } from './lib/fixtures.js';
import { startFaultProxy } from './lib/faultproxy.js';
import { startRegistry } from './lib/registry.js';

/** The CLI compiled with this test, wherever that is (dist/, or a private out dir). */
const CLI_BIN = fileURLToPath(new URL('../src/cli/bin.js', import.meta.url));

const tmux = (...args: string[]) => execFileSync('tmux', args, { encoding: 'utf8' });

t.test('on a terminal, each layer has one progress line redrawn in place', async (t) => {
  const fx = await fixtureImages();
  const reg = await startRegistry();
  t.teardown(() => reg.stop());
  await reg.push(fx.layout('layered'), 'test/layered:latest');
  const proxy = await startFaultProxy(reg.url);
  t.teardown(() => proxy.stop());
  // Slow bodies, so the screen can be read while layers download.
  proxy.rules = [{ match: /^GET \/v2\/.*\/blobs\//, fault: { kind: 'slow', bytesPerChunk: 16 * 1024, delayMs: 40 } }];
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'glassbox-tty-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const session = `glassbox-progress-${process.pid}`;
  const bin = CLI_BIN;
  const ref = `${proxy.host}/test/layered:latest`;
  tmux('new-session', '-d', '-s', session, '-x', '120', '-y', '30', `${process.execPath} ${bin} --root ${root} pull ${ref}; echo EXIT=$?; sleep 60`);
  t.teardown(() => spawnSync('tmux', ['kill-session', '-t', session]));
  let during = '';
  let after = '';
  for (let i = 0; i < 300; i++) {
    const screen = tmux('capture-pane', '-p', '-t', session);
    if (!during && /Downloading \[[= >]+\] [\d.]+[kM]?B\/[\d.]+[kM]?B/.test(screen)) during = screen;
    if (/EXIT=\d+/.test(screen)) {
      after = screen;
      break;
    }
    await sleep(50);
  }
  t.match(during, /Downloading \[/, 'a progress bar was on screen while downloading');
  t.match(after, /EXIT=0/, 'the pull succeeded');
  const complete = after.split('\n').filter((l) => /^[a-f0-9]{12}: (Pull complete|Already exists)$/.test(l.trim()));
  t.equal(complete.length, 4, 'four layers, one line each, none repeated');
  t.equal(new Set(complete).size, 4);
  t.notMatch(after, /Downloading/, 'no stale progress line is left');
  t.match(after, /Status: downloaded .*test\/layered:latest \(4 layers/);
});

t.test('piped, progress is plain lines, one per state change', async (t) => {
  const fx = await fixtureImages();
  const reg = await startRegistry();
  t.teardown(() => reg.stop());
  await reg.push(fx.layout('busybox'), 'library/busybox:latest');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'glassbox-plain-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const r = spawnSync(process.execPath, [CLI_BIN, '--root', root, 'pull', `${reg.host}/library/busybox`], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  t.notMatch(r.stdout, /\x1b\[/, 'no terminal escapes');
  const lines = r.stdout.trim().split('\n');
  t.match(lines[0], /^Pulling .*busybox:latest$/);
  t.ok(lines.some((l) => /^[a-f0-9]{12}: Pull complete$/.test(l)));
  t.match(lines[lines.length - 1], /^Status: downloaded /);
});
