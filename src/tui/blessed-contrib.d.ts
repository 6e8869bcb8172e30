// blessed-contrib 4.11 has no published types: what the TUI uses of it (the
// braille line chart; its gauges draw their bar as background colour only,
// invisible under NO_COLOR, so the bars are text, in panes/cgroup.ts).
declare module 'blessed-contrib' {
  import type { Widgets } from 'blessed';

  namespace contrib {
    interface LineSeries {
      title: string;
      x: string[];
      y: number[];
      style?: { line?: string };
    }
    interface LineOptions extends Widgets.BoxOptions {
      showLegend?: boolean;
      legend?: { width?: number };
      minY?: number;
      /** A fixed top of the y axis; without it an all-zero series divides by zero. */
      maxY?: number;
      wholeNumbersOnly?: boolean;
      abbreviate?: boolean;
      numYLabels?: number;
      xLabelPadding?: number;
      xPadding?: number;
      showNthLabel?: number;
      style?: Widgets.BoxOptions['style'] & { line?: string; text?: string; baseline?: string };
    }
    interface LineElement extends Widgets.BoxElement {
      setData(series: LineSeries[]): void;
      ctx?: unknown;
    }
  }

  const contrib: {
    line(options?: contrib.LineOptions): contrib.LineElement;
  };
  export default contrib;
}
