// Pull progress for a person: on a terminal, one line per layer redrawn in
// place like docker pull's; elsewhere, one plain line per state change.
import chalk from 'chalk';
import type { GlassboxEvent, HostDetail, LayerState } from '../events/schema.js';
import { shortId } from '../image/digest.js';

export function humanBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 2 : 1)}${units[i]}`;
}

const LABEL: Record<LayerState, string> = {
  waiting: 'Waiting',
  exists: 'Already exists',
  downloading: 'Downloading',
  retrying: 'Retrying',
  verifying: 'Verifying Checksum',
  done: 'Pull complete',
  failed: 'Failed',
};

type LayerDetail = Extract<HostDetail, { what: 'layer' }>;

export class PullProgress {
  private readonly order: string[] = [];
  private readonly layers = new Map<string, LayerDetail>();
  private drawn = 0;
  /**
   * "Pulling NAME", said once the registry is asked for something: a run
   * whose image is in the store resolves its name too, and pulls nothing,
   * so it says nothing, as docker run says nothing then.
   */
  private pulling: string | boolean = false;

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly tty = Boolean(out.isTTY),
  ) {}

  handle = (e: GlassboxEvent): void => {
    if (e.kind !== 'host') return;
    const d = e.detail;
    switch (d.what) {
      case 'resolve':
        this.pulling = `Pulling ${d.reference}`;
        break;
      case 'manifest':
        this.pulls();
        if (d.platform) this.line(`Manifest ${d.digest} (${d.platform})`);
        break;
      case 'layer':
        this.pulls();
        this.layer(d);
        break;
      case 'retry':
        this.pulls();
        if (!this.tty) this.line(`retry ${d.attempt} in ${d.delayMs} ms: ${d.reason}`);
        break;
      case 'image':
        // Found in the store (or loaded from a file): nothing was pulled.
        if (this.pulling !== true) break;
        this.line(`Digest: ${d.digest}`);
        this.line(`Status: downloaded ${d.name} (${d.layers} layers, ${humanBytes(d.size)})`);
        break;
      case 'http':
      case 'auth':
      case 'unpack':
        break;
    }
  };

  private pulls(): void {
    if (typeof this.pulling === 'string') this.line(this.pulling);
    this.pulling = true;
  }

  private line(s: string): void {
    if (this.tty) this.drawn = 0;
    this.out.write(s + '\n');
  }

  private layer(d: LayerDetail): void {
    const prev = this.layers.get(d.digest);
    if (!prev) this.order.push(d.digest);
    this.layers.set(d.digest, d);
    if (!this.tty) {
      if (d.state !== 'downloading' && prev?.state !== d.state) this.out.write(`${shortId(d.digest)}: ${LABEL[d.state]}\n`);
      return;
    }
    this.redraw();
  }

  private redraw(): void {
    if (this.drawn > 0) this.out.write(`\x1b[${this.drawn}A`);
    for (const id of this.order) {
      const d = this.layers.get(id)!;
      let s = `${shortId(d.digest)}: ${LABEL[d.state]}`;
      if (d.state === 'downloading' && d.size > 0) {
        const width = 40;
        const filled = Math.min(width, Math.floor((d.bytes / d.size) * width));
        s += ` [${'='.repeat(Math.max(0, filled - 1))}${filled > 0 ? '>' : ''}${' '.repeat(width - filled)}] ${humanBytes(d.bytes)}/${humanBytes(d.size)}`;
      }
      if (d.state === 'failed') s = chalk.red(s);
      this.out.write(`\x1b[2K${s}\n`);
    }
    this.drawn = this.order.length;
  }
}
