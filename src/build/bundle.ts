// The glassbox program as one bundle: run after tsc by `npm run build:ts`.
//
// Node 20 loads an ES module graph file by file: for `glassbox run` that was
// some 60 files, each resolved, read, compiled and linked before the first
// stage, about 40 ms of a 150 ms run. esbuild joins src/cli/entry.ts and
// everything it imports into dist/src/cli/glassbox.cjs, which the command
// (src/cli/bin.ts) compiles with V8's code cache. CommonJS, because only a
// script, not an ES module, can be compiled from a cache in Node 20. What only
// some commands use (the TUI, pull, the exporters) is in the file but not
// run until asked for. The rest of dist/ is tsc's output, unchanged: the
// workers and the tests load its modules as they are.
//
// Each module keeps its own import.meta.url: the workers, the native addon
// and tar-stream's patch find their files relative to where tsc put the
// module, not where the bundle is.
import { build, type Plugin } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const outdir = join(dist, 'src', 'cli');
const outfile = join(outdir, 'glassbox.cjs');

/**
 * Packages left to node_modules: the TUI's (blessed reads its terminfo files
 * beside its code; the markdown renderer is loaded only for lessons), and
 * tar-stream, whose PAX decoder src/image/tarpatch.ts replaces in the loaded
 * module (a bundled copy would not see the patch).
 */
const EXTERNAL = ['blessed', 'blessed-contrib', 'marked', 'marked-terminal', 'tar-stream', '*.node'];

const ownImportMeta: Plugin = {
  name: 'own-import-meta-url',
  setup(b) {
    b.onLoad({ filter: /\.js$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      if (!args.path.startsWith(dist + sep) || !text.includes('import.meta.url')) return { contents: text, loader: 'js' };
      const rel = relative(outdir, args.path).split(sep).join('/');
      return { contents: text.replaceAll('import.meta.url', `__glassboxModuleUrl(${JSON.stringify(rel)})`), loader: 'js' };
    });
  },
};

await build({
  entryPoints: [join(outdir, 'entry.js')],
  outfile,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  external: EXTERNAL,
  // At the top, where require is the bundle's own (a module may name a local "require").
  banner: { js: "const __glassboxModuleUrl = (rel) => require('node:url').pathToFileURL(require('node:path').join(__dirname, rel)).href;" },
  plugins: [ownImportMeta],
  logLevel: 'warning',
  legalComments: 'inline',
});

// The first code cache, from --help: the bundle's top level, which every command runs.
for (const f of ['glassbox.cjs.cache', 'glassbox.cjs.help-cache']) rmSync(join(outdir, f), { force: true });
const made = spawnSync(process.execPath, [join(outdir, 'bin.js'), '--help'], { env: { ...process.env, GLASSBOX_CODE_CACHE: 'build' }, stdio: ['ignore', 'ignore', 'inherit'] });
if (made.status !== 0) throw new Error(`glassbox --help failed (${made.status ?? made.signal}) while making the code cache`);
