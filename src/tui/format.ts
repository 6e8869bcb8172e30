// Small text helpers shared by the panes: sizes, durations, fitting a line to a width.

export function bytes(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '-';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v.toFixed(0) : v.toFixed(v >= 100 ? 0 : 1)}${units[i]}`;
}

export function duration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '';
  if (ms < 1) return '<1ms';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)}s`;
  return `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`;
}

export function count(n: number): string {
  if (n < 10_000) return String(n);
  if (n < 1_000_000) return `${(n / 1000).toFixed(n < 100_000 ? 1 : 0)}k`;
  return `${(n / 1_000_000).toFixed(1)}M`;
}

/** Cut a plain (escape-free) string to width, with an ellipsis when it was cut. */
export function fit(s: string, width: number): string {
  if (width <= 0) return '';
  if (s.length <= width) return s;
  if (width === 1) return '…';
  return s.slice(0, width - 1) + '…';
}

export function pad(s: string, width: number): string {
  const f = fit(s, width);
  return f + ' '.repeat(Math.max(0, width - f.length));
}

/** The middle of a long path or digest goes, its ends stay: /var/lib/…/merged. */
export function middle(s: string, width: number): string {
  if (s.length <= width) return s;
  if (width < 5) return fit(s, width);
  const head = Math.ceil((width - 1) / 2);
  return s.slice(0, head) + '…' + s.slice(s.length - (width - 1 - head));
}

export function shortDigest(d: string | undefined, n = 12): string {
  if (!d) return '-';
  return d.replace(/^sha256:/, '').slice(0, n);
}

/** Word-wrap plain or painted text (escapes do not count) to width. */
export function wrap(text: string, width: number): string[] {
  if (width <= 0) return [];
  const out: string[] = [];
  let line = '';
  let len = 0;
  for (const word of text.split(/ +/)) {
    const wl = word.replace(/\x1b\[[\d;]*m/g, '').length;
    if (len && len + 1 + wl > width) {
      out.push(line);
      line = '';
      len = 0;
    }
    if (wl > width && !len && wl === word.length) {
      // A path longer than the line: broken where the line ends.
      let rest = word;
      while (rest.length > width) {
        out.push(rest.slice(0, width));
        rest = rest.slice(width);
      }
      line = rest;
      len = rest.length;
      continue;
    }
    line += (len ? ' ' : '') + word;
    len += (len ? 1 : 0) + wl;
  }
  if (len) out.push(line);
  return out;
}
