#!/usr/bin/env node
import { main } from './main.js';

// A reader that goes away (glassbox run ... 2>&1 | head) must not end a run
// half done: what can no longer be written is dropped, and the run goes on
// to its end, where every stage undoes itself.
for (const s of [process.stdout, process.stderr]) {
  s.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
  });
}

main(process.argv.slice(2)).then((code) => process.exit(code));
