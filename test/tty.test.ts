// run -it on a real terminal (tmux): a shell you type in, window size passed
// on, Ctrl-C to the program, its exit code; -i alone passes stdin; neither,
// and the program reads /dev/null, as with docker.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { loadImages } from '../src/image/interchange.js';
import { Store } from '../src/image/store.js';
import { fixtureImages, repoRoot } from './lib/fixtures.js';

let root: string;
const bin = () => path.join(repoRoot(), 'dist/src/cli/bin.js');
const tmux = (...args: string[]) => execFileSync('tmux', args, { encoding: 'utf8' });

t.before(async () => {
  root = fs.mkdtempSync('/tmp/glassbox-tty-');
  await loadImages(await Store.open(root), (await fixtureImages()).layout('busybox'), { name: 'busybox' });
});
t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));

t.test('run -it: a shell on a pseudo-terminal, resized with the window, Ctrl-C to the program', async (t) => {
  const session = `glassbox-tty-${process.pid}`;
  tmux('new-session', '-d', '-s', session, '-x', '100', '-y', '30', `${process.execPath} ${bin()} --root ${root} run --rm -q -it busybox sh; echo EXIT=$?; sleep 60`);
  t.teardown(() => spawnSync('tmux', ['kill-session', '-t', session]));
  const screen = () => tmux('capture-pane', '-p', '-t', session);
  const waitFor = async (re: RegExp) => {
    for (let i = 0; i < 200 && !re.test(screen()); i++) await sleep(50);
    t.match(screen(), re);
  };
  await waitFor(/^\/ #/m);
  tmux('send-keys', '-t', session, 'echo hello from $(hostname); stty size', 'Enter');
  await waitFor(/^hello from [a-f0-9]{12}$/m);
  await waitFor(/^30 100$/m);
  tmux('resize-window', '-t', session, '-x', '80', '-y', '24');
  await sleep(200);
  tmux('send-keys', '-t', session, 'stty size; sleep 100', 'Enter');
  await waitFor(/^24 80$/m);
  tmux('send-keys', '-t', session, 'C-c');
  await waitFor(/\^C\s*\n\/ #/m);
  tmux('send-keys', '-t', session, 'exit 5', 'Enter');
  await waitFor(/^EXIT=5$/m);
});

t.test('-i passes stdin; without it the program reads /dev/null', async (t) => {
  const withI = spawnSync(process.execPath, [bin(), '--root', root, 'run', '--rm', '-q', '-i', 'busybox', 'cat'], { input: 'through stdin\n', encoding: 'utf8' });
  t.equal(withI.stdout, 'through stdin\n');
  const without = spawnSync(process.execPath, [bin(), '--root', root, 'run', '--rm', '-q', 'busybox', 'cat'], { input: 'not read\n', encoding: 'utf8' });
  t.equal(without.status, 0);
  t.equal(without.stdout, '');
});
