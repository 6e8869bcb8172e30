// Colours for the TUI, in one place, so NO_COLOR (no-color.org) turns every
// one of them off at once. Panes write ANSI SGR into plain-text boxes (blessed
// parses it); no blessed {tags}, because syscall arguments and lesson code are
// full of braces that tags would eat.
import { Chalk, type ChalkInstance } from 'chalk';

/** NO_COLOR present and not empty, as the convention says. */
export function noColorRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.NO_COLOR !== undefined && env.NO_COLOR !== '';
}

export interface Theme {
  readonly color: boolean;
  /** ANSI painter: colours off when color is false; bold, dim and inverse stay (they are not colour). */
  readonly c: ChalkInstance;
  /** A blessed colour name, or undefined (the terminal's default) without colour. */
  fg(name: string): string | undefined;
  ok(s: string): string;
  err(s: string): string;
  warn(s: string): string;
  accent(s: string): string;
  dim(s: string): string;
  bold(s: string): string;
  inverse(s: string): string;
  /** A value of this run put into a lesson. */
  live(s: string): string;
}

export function makeTheme(color: boolean): Theme {
  // Level 1 (16 colours) is all the panes use; level 0 would also drop bold and
  // dim, so without colour the few style codes are written by hand.
  const c = new Chalk({ level: color ? 1 : 0 });
  const sgr = (on: number, off: number) => (s: string) => `\x1b[${on}m${s}\x1b[${off}m`;
  const bold = sgr(1, 22);
  const dim = sgr(2, 22);
  const inverse = sgr(7, 27);
  const underline = sgr(4, 24);
  return {
    color,
    c,
    fg: (name) => (color ? name : undefined),
    ok: color ? c.green : (s) => s,
    err: color ? c.red : bold,
    warn: color ? c.yellow : bold,
    accent: color ? c.cyan : (s) => s,
    dim,
    bold,
    inverse,
    live: color ? c.yellow.bold : underline,
  };
}
