// The control socket of a running glassbox: containers/<id>/control.sock.
// Another terminal asks it for a snapshot (glassbox inspect), tells a pause
// to go on (glassbox resume), or learns the PID to enter (glassbox shell).
// One JSON object a line each way.
import * as fs from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { GlassboxError } from '../util/errors.js';
import type { Snapshot } from './snapshot.js';

export type ControlRequest = { cmd: 'inspect' } | { cmd: 'resume' } | { cmd: 'status' } | { cmd: 'kill'; signal: NodeJS.Signals } | { cmd: 'stop'; timeoutMs: number };
export type ControlReply =
  | { ok: true; snapshot: Snapshot }
  | { ok: true; resumed: boolean }
  | { ok: true; status: { id: string; stage: string; paused: boolean; pid?: number } }
  | { ok: true; signalled: boolean }
  | { ok: false; error: string };

export interface ControlHandlers {
  snapshot(): Promise<Snapshot>;
  /** Resolve a pause; false when nothing is paused. */
  resume(): boolean;
  status(): { id: string; stage: string; paused: boolean; pid?: number };
  /** Signal the program; false when it is not running yet. */
  kill(signal: NodeJS.Signals): boolean;
  /** SIGTERM, then SIGKILL after timeoutMs, as docker stop. */
  stop(timeoutMs: number): boolean;
}

/**
 * run/<short id>.sock under the store: a socket path must fit in 108 bytes,
 * and one inside the container directory would not.
 */
export function socketPath(storeRoot: string, id: string): string {
  return join(storeRoot, 'run', `${id.slice(0, 12)}.sock`);
}

export async function serveControl(storeRoot: string, id: string, h: ControlHandlers): Promise<{ close(): Promise<void> }> {
  fs.mkdirSync(join(storeRoot, 'run'), { recursive: true, mode: 0o700 });
  const path = socketPath(storeRoot, id);
  fs.rmSync(path, { force: true });
  const server = net.createServer((sock) => {
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('error', () => {});
    sock.on('data', async (d: string) => {
      buf += d;
      for (let nl = buf.indexOf('\n'); nl !== -1; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let reply: ControlReply;
        try {
          const req = JSON.parse(line) as ControlRequest;
          if (req.cmd === 'inspect') reply = { ok: true, snapshot: await h.snapshot() };
          else if (req.cmd === 'resume') reply = { ok: true, resumed: h.resume() };
          else if (req.cmd === 'status') reply = { ok: true, status: h.status() };
          else if (req.cmd === 'kill') reply = { ok: true, signalled: h.kill(req.signal) };
          else if (req.cmd === 'stop') reply = { ok: true, signalled: h.stop(req.timeoutMs) };
          else reply = { ok: false, error: `unknown command ${JSON.stringify((req as { cmd: unknown }).cmd)}` };
        } catch (e) {
          reply = { ok: false, error: (e as Error).message };
        }
        sock.write(JSON.stringify(reply) + '\n');
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  fs.chmodSync(path, 0o600);
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        fs.rmSync(path, { force: true });
      }),
  };
}

/** Ask a running glassbox: one request, one reply. */
export function askControl(storeRoot: string, id: string, req: ControlRequest, timeoutMs = 10_000): Promise<ControlReply> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(socketPath(storeRoot, id));
    let buf = '';
    const timer = setTimeout(() => sock.destroy(new Error('no answer')), timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(JSON.stringify(req) + '\n'));
    sock.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl === -1) return;
      clearTimeout(timer);
      sock.end();
      resolve(JSON.parse(buf.slice(0, nl)) as ControlReply);
    });
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(new GlassboxError(`cannot reach the glassbox that runs it: ${(e as NodeJS.ErrnoException).code ?? e.message}`, { op: req.cmd, code: 'ECONNREFUSED' }));
    });
  });
}
