// Find the image in the store, or pull it: the first thing docker run does.
import { resolveImages } from '../../image/resolve.js';
import { parseReference } from '../../image/reference.js';
import { hostEvent } from '../../events/schema.js';
import type { ImageConfig, ImageManifest } from '../../image/mediatypes.js';
import type { Stage } from '../stage.js';

export const pullStage: Stage = {
  id: 'pull',
  title: 'Find or pull the image',
  describe: (ctx) => `look up ${ctx.options.image} in the store, and pull it from its registry if it is not there`,
  async run(ctx) {
    let [record] = resolveImages(ctx.store, ctx.options.image);
    if (record) {
      // Found here: what a pull would have said about the name, and the image it is.
      try {
        const ref = parseReference(record.name);
        ctx.events(hostEvent({ what: 'resolve', input: ctx.options.image, reference: record.name, registry: ref.domain, repository: ref.path, tag: ref.tag, digest: ref.digest }));
      } catch {
        // an image known by id only: no name to resolve
      }
    } else {
      // Loaded only when needed: most runs find their image in the store.
      const { pull } = await import('../../image/pull.js');
      record = (await pull(ctx.store, ctx.options.image, { events: ctx.events })).image;
    }
    const manifest: ImageManifest = ctx.store.manifest(record.digest);
    const config: ImageConfig = ctx.store.config(manifest);
    ctx.image = { record, manifest, config, layers: config.rootfs.diff_ids.map((d) => ctx.store.layerDiff(d)) };
    const size = manifest.layers.reduce((n, l) => n + l.size, 0);
    ctx.events(hostEvent({ what: 'image', name: record.name, digest: record.digest, layers: manifest.layers.length, size }));
  },
};
