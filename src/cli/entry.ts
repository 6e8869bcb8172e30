// glassbox's entry: what src/cli/bin.ts runs, from the bundle
// (dist/src/cli/glassbox.cjs, src/build/bundle.ts) or, with no bundle, as it is.
// First: a run's head start on the kernel (early.ts).
import './early.js';
import { main } from './main.js';

// Output that can no longer be written is dropped: the reader went away
// (glassbox run ... 2>&1 | head: EPIPE) or the terminal hung up (EIO, as
// SIGHUP arrives). Thrown, it would end a run half done; dropped, the run
// goes on to its end, or to the signal's undo, and every stage undoes itself.
for (const s of [process.stdout, process.stderr]) s.on('error', () => {});

main(process.argv.slice(2)).then((code) => process.exit(code));
