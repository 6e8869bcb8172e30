// pull, images, rmi, prune, export, load, save. The image code is loaded by
// the action that needs it: `glassbox run` should not pay for pull and unpack.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';
import type { EventSink } from '../events/schema.js';
import { shortId } from '../image/digest.js';
import { DEFAULT_CONCURRENCY } from '../image/limits.js';
import { parsePlatform } from '../image/platform.js';
import { familiarName, parseReference } from '../image/reference.js';
import { Store } from '../image/store.js';
import { GlassboxError } from '../util/errors.js';
import type { GlobalOptions } from './main.js';
import { humanBytes, PullProgress } from './pullprogress.js';
import { table } from './table.js';

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new InvalidArgumentError('expected a whole number from 1 to 64');
  return n;
}

function globals(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals() as GlobalOptions;
}

export function openStore(cmd: Command): Promise<Store> {
  return Store.open(globals(cmd).root);
}

/** An AbortSignal that fires on Ctrl-C or SIGTERM while fn runs. */
export async function interruptible<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const onSignal = () => ac.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // The terminal closed: the same as being told to stop, so nothing is left behind.
  process.on('SIGHUP', onSignal);
  try {
    return await fn(ac.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
  }
}

function ago(iso: string | undefined): string {
  if (!iso) return 'N/A';
  const s = (Date.now() - Date.parse(iso)) / 1000;
  if (Number.isNaN(s)) return 'N/A';
  const steps: [number, string][] = [
    [60 * 60 * 24 * 365, 'year'],
    [60 * 60 * 24 * 30, 'month'],
    [60 * 60 * 24 * 7, 'week'],
    [60 * 60 * 24, 'day'],
    [60 * 60, 'hour'],
    [60, 'minute'],
  ];
  for (const [n, unit] of steps) {
    const v = Math.floor(s / n);
    if (v >= 1) return `${v} ${unit}${v > 1 ? 's' : ''} ago`;
  }
  return 'Less than a minute ago';
}

export function imageCommands(program: Command): void {
  program
    .command('pull')
    .description('pull an image from a registry into the store (docker reference forms: busybox, library/busybox:1.36, host:port/name@sha256:...)')
    .argument('<image>', 'image reference')
    .option('--platform <os/arch[/variant]>', 'platform to pull from a multi-platform image (default: this host)')
    .option('-u, --username <name>', 'registry user name (password from --password-stdin)')
    .option('--password-stdin', 'read the registry password from standard input')
    .addOption(new Option('--insecure-registry <host>', 'reach this registry over plain HTTP (repeatable); loopback always is').argParser((v: string, prev: string[] = []) => [...prev, v]))
    .addOption(new Option('--max-concurrent-downloads <n>', 'layers transferred at once, each in its own thread').argParser(positiveInt).default(DEFAULT_CONCURRENCY))
    .option('-q, --quiet', 'print only the image name')
    .action(async (image: string, o: { platform?: string; username?: string; passwordStdin?: boolean; insecureRegistry?: string[]; maxConcurrentDownloads: number; quiet?: boolean }, cmd: Command) => {
      if (o.passwordStdin && !o.username) throw new GlassboxError('--password-stdin needs --username', { op: 'pull', code: 'EINVAL' });
      if (o.username && !o.passwordStdin) throw new GlassboxError('--username needs --password-stdin', { op: 'pull', code: 'EINVAL' });
      const password = o.passwordStdin ? readFileSync(0, 'utf8').replace(/\r?\n$/, '') : undefined;
      const platform = o.platform ? parsePlatform(o.platform) : undefined;
      const store = await openStore(cmd);
      const { pull } = await import('../image/pull.js');
      const events: EventSink = o.quiet ? () => {} : new PullProgress(process.stdout).handle;
      const r = await interruptible((signal) =>
        pull(store, image, {
          platform,
          credentials: o.username ? { username: o.username, password: password ?? '' } : undefined,
          insecureRegistries: o.insecureRegistry,
          events,
          signal,
          concurrency: o.maxConcurrentDownloads,
        }),
      );
      if (o.quiet) process.stdout.write(`${r.image.name}\n`);
    });

  program
    .command('images')
    .description('list the images in the store')
    .option('--digests', 'show manifest digests')
    .option('-q, --quiet', 'only image IDs')
    .action(async (o: { digests?: boolean; quiet?: boolean }, cmd: Command) => {
      const store = await openStore(cmd);
      const { listImages } = await import('../image/images.js');
      const list = listImages(store);
      if (o.quiet) {
        for (const id of new Set(list.map((i) => shortId(i.id)))) process.stdout.write(`${id}\n`);
        return;
      }
      const head = ['REPOSITORY', 'TAG', ...(o.digests ? ['DIGEST'] : []), 'IMAGE ID', 'CREATED', 'SIZE'];
      const rows = list.map((i) => [
        i.repository,
        i.tag,
        ...(o.digests ? [i.record.digest] : []),
        i.id ? shortId(i.id) : '<damaged>',
        ago(i.created),
        humanBytes(i.size),
      ]);
      process.stdout.write(table([head, ...rows]));
    });

  program
    .command('rmi')
    .description('remove images, and the layers no other image uses')
    .argument('<image...>', 'names, image IDs or digests')
    .option('-f, --force', 'remove every name of an image ID')
    .action(async (images: string[], o: { force?: boolean }, cmd: Command) => {
      const store = await openStore(cmd);
      const { removeImages } = await import('../image/images.js');
      const r = await removeImages(store, images, o.force);
      for (const n of r.untagged) process.stdout.write(`Untagged: ${n}\n`);
      for (const d of r.deleted.layers) process.stdout.write(`Deleted layer: ${d}\n`);
      for (const d of r.deleted.blobs) process.stdout.write(`Deleted blob: ${d}\n`);
    });

  program
    .command('prune')
    .description('remove blobs and layers no image uses, and what interrupted pulls left')
    .action(async (_o: unknown, cmd: Command) => {
      const store = await openStore(cmd);
      const { prune } = await import('../image/images.js');
      const r = await prune(store);
      for (const d of r.layers) process.stdout.write(`Deleted layer: ${d}\n`);
      for (const d of r.blobs) process.stdout.write(`Deleted blob: ${d}\n`);
      process.stdout.write(`Total reclaimed space: ${humanBytes(r.bytes)}\n`);
    });

  program
    .command('export')
    .description("write an image's flattened root filesystem to a directory, as umoci unpack does")
    .argument('<image>', 'name, image ID or digest')
    .argument('<dir>', 'directory to create (or an empty one)')
    .action(async (image: string, dir: string, _o: unknown, cmd: Command) => {
      const store = await openStore(cmd);
      const { exportImage } = await import('../image/images.js');
      const r = await exportImage(store, image, dir);
      const s = r.stats;
      process.stdout.write(`${dir}: ${s.files} files, ${s.dirs} directories, ${s.symlinks} symlinks, ${s.hardlinks} hardlinks, ${humanBytes(s.bytes)}; ${s.whiteouts} whiteouts and ${s.opaques} opaque directories applied\n`);
    });

  program
    .command('load')
    .description('load images from an OCI image layout (skopeo, umoci) or a docker save archive')
    .requiredOption('-i, --input <path>', 'OCI layout directory, or a .tar (optionally gzipped) archive')
    .option('--name <name>', 'name for images the source names only by tag (OCI layouts from skopeo or umoci)')
    .option('--platform <os/arch[/variant]>', 'platform to load from a multi-platform index (default: this host)')
    .action(async (o: { input: string; name?: string; platform?: string }, cmd: Command) => {
      const store = await openStore(cmd);
      const { loadImages } = await import('../image/interchange.js');
      const records = await interruptible(() =>
        loadImages(store, o.input, { name: o.name, platform: o.platform ? parsePlatform(o.platform) : undefined }),
      );
      for (const r of records) process.stdout.write(`Loaded image: ${familiarName(parseReference(r.name))}\n`);
    });

  program
    .command('save')
    .description('save images as an OCI image layout directory, or a tar archive that docker load, skopeo and umoci read')
    .argument('<image...>', 'names, image IDs or digests')
    .requiredOption('-o, --output <path>', 'a new directory (OCI layout), or FILE.tar / - for an archive')
    .addOption(new Option('--format <format>', 'oci (layout directory) or archive (tar)').choices(['oci', 'archive']))
    .action(async (images: string[], o: { output: string; format?: 'oci' | 'archive' }, cmd: Command) => {
      const store = await openStore(cmd);
      const { saveImages } = await import('../image/interchange.js');
      const r = await saveImages(store, images, o.output, { format: o.format });
      if (o.output !== '-') process.stderr.write(`saved ${images.length} image(s), ${r.blobs} blobs, as ${r.format === 'oci' ? 'an OCI layout' : 'an archive'}: ${o.output}\n`);
    });
}
