// The glassbox command as one bundle: run after tsc by `npm run build:ts`.
//
// Node 20 loads an ES module graph file by file: for `glassbox run` that was
// some 60 files, each resolved, read, compiled and linked before the first
// stage, about 40 ms of a 150 ms run. esbuild joins them into
// dist/src/cli/bin.js (which replaces tsc's entry) plus chunks beside it for
// what only some commands load (the TUI, pull, the trace exporters), so those
// stay lazy. The rest of dist/ is tsc's output, unchanged: the workers and the
// tests load its modules as they are.
//
// Each module keeps its own import.meta.url: the workers, the native addon
// and tar-stream's patch find their files relative to where tsc put the
// module, not where the bundle is.
import { build, type Plugin } from 'esbuild';
import { rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const outdir = join(dist, 'src', 'cli');

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
      return { contents: text.replaceAll('import.meta.url', `new URL(${JSON.stringify(rel)}, import.meta.url).href`), loader: 'js' };
    });
  },
};

await build({
  entryPoints: [join(outdir, 'bin.js')],
  outdir,
  allowOverwrite: true,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: EXTERNAL,
  // CommonJS packages inside the bundle (commander) call require for Node's own modules.
  banner: { js: "import { createRequire as __glassboxRequire } from 'node:module'; const require = __glassboxRequire(import.meta.url);" },
  plugins: [ownImportMeta],
  logLevel: 'warning',
  legalComments: 'inline',
});
// tsc's map was of the entry the bundle replaced.
rmSync(join(outdir, 'bin.js.map'), { force: true });
