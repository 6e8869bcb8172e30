// A terminal for tests: a tmux server of our own (a private socket, no
// config file), a window of a given size, keys in, the screen out.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** A tap test, or anything else that runs clean-ups at its end (a benchmark). */
export interface Teardown {
  teardown(fn: () => void): void;
}

/** How long a wait may take before it gives up: room for a loaded machine, not a speed target (those are in bench/). */
export const WAIT_MS = 60_000;

export class Tmux {
  private path = '';
  private constructor(readonly socket: string) {}

  /** Runs `command` (a shell command line) in a new detached window; the server goes when the test ends. */
  static start(t: Teardown, command: string, o: { cols?: number; rows?: number; label?: string; env?: Record<string, string> } = {}): Tmux {
    const socket = `glassbox-${o.label ?? 'test'}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    const tm = new Tmux(socket);
    const env = Object.entries(o.env ?? {}).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
    tm.run('-f', '/dev/null', 'new-session', '-d', '-x', String(o.cols ?? 100), '-y', String(o.rows ?? 30), ...env, command);
    // The window keeps the size we give it, whatever clients attach.
    tm.run('set-option', '-g', 'window-size', 'manual');
    tm.path = tm.run('display-message', '-p', '#{socket_path}').trim();
    t.teardown(() => tm.kill());
    return tm;
  }

  run(...args: string[]): string {
    return execFileSync('tmux', ['-L', this.socket, ...args], { encoding: 'utf8' });
  }

  /** The screen as text; with escapes, the SGR sequences too (colours, bold). */
  screen(escapes = false): string {
    return this.run('capture-pane', '-p', ...(escapes ? ['-e'] : []), '-t', '0');
  }

  keys(...keys: string[]): void {
    this.run('send-keys', '-t', '0', ...keys);
  }

  /** Text typed as is (no key names). */
  type(text: string): void {
    this.run('send-keys', '-t', '0', '-l', text);
  }

  /** A mouse click at a cell (0-based), as an xterm reports it in SGR mode (the mode blessed asks for): press, then release. */
  click(col: number, row: number): void {
    this.type(`\x1b[<0;${col + 1};${row + 1}M`);
    this.type(`\x1b[<0;${col + 1};${row + 1}m`);
  }

  /** One notch of the mouse wheel at a cell (0-based). */
  wheel(col: number, row: number, up: boolean): void {
    this.type(`\x1b[<${up ? 64 : 65};${col + 1};${row + 1}M`);
  }

  resize(cols: number, rows: number): void {
    this.run('resize-window', '-t', '0', '-x', String(cols), '-y', String(rows));
  }

  /** Waits until the screen matches; returns it. On timeout, returns the last screen (the caller's match then fails and shows it). */
  async waitFor(re: RegExp, timeoutMs = WAIT_MS): Promise<string> {
    return this.waitUntil((s) => re.test(s), timeoutMs);
  }

  /** Waits until `ok` holds for the screen; returns it (the last one on timeout). */
  async waitUntil(ok: (screen: string) => boolean, timeoutMs = WAIT_MS): Promise<string> {
    const until = Date.now() + timeoutMs;
    let s = this.screen();
    while (!ok(s) && Date.now() < until) {
      await sleep(40);
      s = this.screen();
    }
    return s;
  }

  /** Waits until the screen stops changing for `quietMs`. */
  async settle(quietMs = 200, timeoutMs = 10_000): Promise<string> {
    const until = Date.now() + timeoutMs;
    let last = this.screen();
    let since = Date.now();
    while (Date.now() < until) {
      await sleep(40);
      const s = this.screen();
      if (s !== last) {
        last = s;
        since = Date.now();
      } else if (Date.now() - since >= quietMs) break;
    }
    return last;
  }

  kill(): void {
    spawnSync('tmux', ['-L', this.socket, 'kill-server'], { stdio: 'ignore' });
    // The server leaves its socket file behind.
    if (this.path) fs.rmSync(this.path, { force: true });
  }
}
