// The replay loader's thread (src/tui/load.ts): reads a trace file with the
// reader's checks and turns its syscalls into the stream's lines, so the
// TUI's thread only files them away. With two cores a million events load
// while the first screen draws.
import { parentPort, workerData } from 'node:worker_threads';
import { batchBytes, IN_FLIGHT_BYTES, loadBatches, transferable, type LoadMessage } from './load.js';

async function main(path: string, port: NonNullable<typeof parentPort>): Promise<void> {
  // The TUI's thread says how many bytes of batches it has filed.
  let inFlight = 0;
  let room: (() => void) | undefined;
  port.on('message', (filed: number) => {
    inFlight -= filed;
    if (inFlight < IN_FLIGHT_BYTES) room?.();
  });
  try {
    for await (const b of loadBatches(path)) {
      inFlight += batchBytes(b);
      port.postMessage(b satisfies LoadMessage, transferable(b));
      while (inFlight >= IN_FLIGHT_BYTES) await new Promise<void>((r) => (room = r));
      room = undefined;
    }
    port.postMessage({ kind: 'end' } satisfies LoadMessage);
  } catch (e) {
    port.postMessage({ kind: 'error', message: (e as Error).message } satisfies LoadMessage);
  }
  // Nothing more to hear: the thread may end.
  port.removeAllListeners('message');
}

if (parentPort) void main((workerData as { path: string }).path, parentPort);
