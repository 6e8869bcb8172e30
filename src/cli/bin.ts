#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS GLASSBOX_EXTRA_CA_CERTS=${NODE_EXTRA_CA_CERTS} node
// The line above: Node reads and parses NODE_EXTRA_CA_CERTS's file at every
// start, before any of glassbox runs (~30 ms of a 90 ms run where it is set);
// glassbox needs it only for a pull over TLS, so the variable goes to it under
// a name of its own, and src/image/http.ts adds the file to the roots there.
import { main } from './main.js';

// Output that can no longer be written is dropped: the reader went away
// (glassbox run ... 2>&1 | head: EPIPE) or the terminal hung up (EIO, as
// SIGHUP arrives). Thrown, it would end a run half done; dropped, the run
// goes on to its end, or to the signal's undo, and every stage undoes itself.
for (const s of [process.stdout, process.stderr]) s.on('error', () => {});

main(process.argv.slice(2)).then((code) => process.exit(code));
