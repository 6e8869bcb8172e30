#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS GLASSBOX_EXTRA_CA_CERTS=${NODE_EXTRA_CA_CERTS} node
// The glassbox command.
//
// The line above: Node reads and parses NODE_EXTRA_CA_CERTS's file at every
// start, before any of glassbox runs (~30 ms of a 90 ms run where it is set);
// glassbox needs it only for a pull over TLS, so the variable goes to it under
// a name of its own, and src/image/http.ts adds the file to the roots there.
//
// Then the program itself, from one bundle (src/build/bundle.ts) compiled
// with V8's code cache: Node 20 keeps no compiled code between runs, and an
// ES module graph is resolved, read and compiled file by file. Cached, the
// compile of glassbox's code is mostly skipped (--help made the first cache
// at build time; the first `run` writes one that also holds the code a run
// compiles). A cache this node cannot use (another version) is rewritten. If
// the bundle is not there, the program runs from tsc's modules as they are.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

const here = dirname(fileURLToPath(import.meta.url));
const bundle = join(here, 'glassbox.cjs');

if (!existsSync(bundle)) {
  await import('./entry.js');
} else {
  // From a run (it holds the run's code too), else from the build's --help.
  const runCache = `${bundle}.cache`;
  const buildCache = `${bundle}.help-cache`;
  const read = (f: string) => {
    try {
      return readFileSync(f);
    } catch {
      return undefined;
    }
  };
  const fromRun = read(runCache);
  const cachedData = fromRun ?? read(buildCache);
  const source = readFileSync(bundle, 'utf8');
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: bundle,
    cachedData,
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  const usable = cachedData !== undefined && !script.cachedDataRejected;
  // The build writes the --help cache; a run writes its own unless it used one; any command replaces a cache it could not use.
  const run = process.argv.includes('run');
  const writeTo = process.env.GLASSBOX_CODE_CACHE === 'build' ? buildCache : run && !(fromRun && usable) ? runCache : !usable ? buildCache : undefined;
  if (writeTo) {
    // At the end, when the code this command ran has been compiled. Written
    // whole, then renamed: a run beside this one reads the old file or the new.
    process.once('exit', () => {
      try {
        const tmp = `${writeTo}.${process.pid}`;
        writeFileSync(tmp, script.createCachedData());
        renameSync(tmp, writeTo);
      } catch {
        // a read-only install: every run compiles, as without a cache
      }
    });
  }
  const module = { exports: {} };
  (script.runInThisContext() as (e: object, r: NodeJS.Require, m: object, f: string, d: string) => void)(module.exports, createRequire(bundle), module, bundle, here);
}
