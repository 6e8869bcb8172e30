// The replay loader's thread (src/tui/load.ts): reads a trace file with the
// reader's checks and turns its syscalls into the stream's lines, so the
// TUI's thread only files them away. With two cores a million events load
// while the first screen draws.
import { parentPort, workerData } from 'node:worker_threads';
import { loadBatches, transferable, type LoadMessage } from './load.js';

async function main(path: string, port: NonNullable<typeof parentPort>): Promise<void> {
  try {
    for await (const b of loadBatches(path)) port.postMessage(b satisfies LoadMessage, transferable(b));
    port.postMessage({ kind: 'end' } satisfies LoadMessage);
  } catch (e) {
    port.postMessage({ kind: 'error', message: (e as Error).message } satisfies LoadMessage);
  }
}

if (parentPort) void main((workerData as { path: string }).path, parentPort);
