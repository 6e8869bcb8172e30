// The replay loader's thread (src/tui/load.ts): reads a trace file with the
// reader's checks and turns its syscalls into the stream's lines, so the
// TUI's thread only files them away. When that thread has time, pieces of
// lines go to it to parse, so both parse at once.
import { parentPort, workerData } from 'node:worker_threads';
import { IN_FLIGHT_BYTES, LINES_IN_FLIGHT, loadBatches, messageBytes, transferable, type LoadAck, type LoadMessage } from './load.js';

async function main(path: string, port: NonNullable<typeof parentPort>): Promise<void> {
  // What the TUI's thread has not filed yet, and the pieces of lines it has not parsed.
  let inFlight = 0;
  let lines = 0;
  let room: (() => void) | undefined;
  port.on('message', (a: LoadAck) => {
    inFlight -= a.filed;
    lines -= a.parsed;
    if (inFlight < IN_FLIGHT_BYTES) room?.();
  });
  // A piece goes to it whenever it has room: busy (drawing), it has none and this thread parses on; idle, it takes as many as it parses.
  const handOver = () => {
    if (lines >= LINES_IN_FLIGHT) return false;
    lines++;
    return true;
  };
  try {
    for await (const m of loadBatches(path, handOver)) {
      inFlight += messageBytes(m);
      port.postMessage(m satisfies LoadMessage, transferable(m));
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
