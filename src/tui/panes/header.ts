// The top line: what is being watched, where it is, and (in a replay) the
// position and speed.
import blessed from 'blessed';
import { count, duration, fit } from '../format.js';
import type { Model } from '../model.js';
import type { UiState } from '../state.js';
import type { Theme } from '../theme.js';

export class HeaderBar {
  readonly box;
  constructor(theme: Theme) {
    this.box = blessed.box({ top: 0, left: 0, height: 1, width: '100%', tags: false, style: theme.color ? { fg: 'black', bg: 'cyan' } : { inverse: true } });
  }

  update(model: Model, ui: UiState): void {
    const width = this.box.width as number;
    // Most important first; the rest only while the line has room.
    const parts: string[] = [ui.mode === 'live' ? 'glassbox run' : 'glassbox replay'];
    const cur = model.current ? model.stage(model.current) : undefined;
    const pause = ui.waiting ?? model.pause;
    if (ui.finished !== undefined || model.exit) parts.push(`exited ${ui.finished ?? model.exit?.code}`);
    else if (pause) parts.push(`PAUSED before ${pause.stage}`);
    else if (cur) parts.push(`${cur.state} ${cur.id}`);
    const layers = model.layerRows();
    if (layers.some((l) => l.state !== 'done' && l.state !== 'exists' && l.state !== 'failed')) {
      const size = layers.reduce((n, l) => n + l.size, 0);
      const got = layers.reduce((n, l) => n + l.bytes, 0);
      const done = layers.filter((l) => l.state === 'done' || l.state === 'exists').length;
      parts.push(`pulling ${size ? Math.floor((100 * got) / size) : 0}% (${done}/${layers.length} layers)`);
    }
    parts.push(`${count(model.syscalls)} syscalls`);
    const r = ui.replay;
    if (r) {
      const at = r.t !== undefined && r.t0 !== undefined ? duration(Math.max(0, r.t - r.t0)) : '0ms';
      parts.push(`${r.playing ? (r.continuing ? '▶▶' : '▶') : '‖'} ×${r.speed} ${at}`);
      parts.push(`event ${count(r.pos)}/${count(r.length)}${r.loaded ? '' : '…'}`);
    }
    const image = model.image?.name ?? model.header?.image;
    if (image) parts.push(image);
    const right = '?: help  q: quit ';
    const room = width - right.length - 1;
    let left = ' ' + parts[0]!;
    for (const p of parts.slice(1)) if (left.length + 3 + p.length <= room) left += ' │ ' + p;
    const line = room > 20 ? left.padEnd(room) + ' ' + right : fit(left, width);
    this.box.setContent(line);
  }
}
