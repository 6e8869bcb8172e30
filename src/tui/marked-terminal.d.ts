// marked-terminal 7 ships no types: what src/tui/lesson.ts uses of it.
declare module 'marked-terminal' {
  import type { MarkedExtension } from 'marked';

  export interface TerminalRendererOptions {
    /** Columns for hr and for reflowed text. */
    width?: number;
    reflowText?: boolean;
    /** Replace :name: with emoji. */
    emoji?: boolean;
    /** Spaces (or a string) to indent code blocks and lists. */
    tab?: number | string;
    /** Prefix headings with their '#'s. */
    showSectionPrefix?: boolean;
    unescape?: boolean;
    [style: string]: unknown;
  }

  export function markedTerminal(options?: TerminalRendererOptions, highlightOptions?: Record<string, unknown>): MarkedExtension;
}
