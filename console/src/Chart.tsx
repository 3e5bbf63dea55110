// A time-series chart on uPlot (canvas): x in Unix seconds, one line per series, up to two y
// scales (left and right). The canvas says nothing to a screen reader, so the figure carries a
// text summary (aria-label) and the legend is plain HTML; the views keep the numbers in tables
// too. uPlot styles its elements through the CSSOM, which the console's CSP allows.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { useEffect, useRef } from "react";

/** Series colours, in order; style.css has the same ones as .swatch.c0 … .swatch.c7. */
export const palette = ["#0a58ca", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#0969da", "#57606a"] as const;

export interface ChartSeries {
  label: string;
  /** One value per x; null leaves a gap. */
  values: (number | null)[];
  /** "right" plots it against the second y axis. */
  axis?: "left" | "right";
}

export interface ChartProps {
  /** The chart's accessible name and visible caption. */
  title: string;
  /** What the chart shows, in words (read by screen readers instead of the canvas). */
  summary: string;
  /** x values: Unix seconds, ascending. */
  x: number[];
  series: ChartSeries[];
  leftLabel: string;
  rightLabel?: string;
  height?: number;
  testId?: string;
  /** "seconds": x ticks every few seconds as HH:MM:SS (live views); default: uPlot's date/time ticks. */
  xTicks?: "seconds";
}

const pad2 = (n: number) => String(n).padStart(2, "0");
const clock = (unixSeconds: number) => {
  const d = new Date(unixSeconds * 1000);
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
};

function cssVar(name: string, fallback: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

export function Chart({ title, summary, x, series, leftLabel, rightLabel, height = 220, testId, xTicks }: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  // The chart is rebuilt when its series (names, axes) change; new values only redraw it.
  const shape = JSON.stringify([series.map((s) => [s.label, s.axis ?? "left"]), leftLabel, rightLabel ?? "", height, xTicks ?? ""]);

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const fg = cssVar("--fg", "#1b1f24");
    const grid = cssVar("--line", "#d0d7de");
    const axis = (scale: string, label: string, side: 1 | 3): uPlot.Axis => ({
      scale,
      label,
      side,
      stroke: fg,
      grid: { stroke: grid, width: 1, show: side === 3 },
      ticks: { stroke: grid, width: 1 },
      size: 56,
    });
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] }, y2: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      axes: [
        {
          stroke: fg,
          grid: { stroke: grid, width: 1 },
          ticks: { stroke: grid, width: 1 },
          ...(xTicks === "seconds" && { space: 70, incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300], values: (_u: uPlot, splits: number[]) => splits.map(clock) }),
        },
        axis("y", leftLabel, 3),
        ...(rightLabel ? [axis("y2", rightLabel, 1)] : []),
      ],
      series: [
        {},
        ...series.map((s, i) => ({
          label: s.label,
          scale: s.axis === "right" ? "y2" : "y",
          stroke: palette[i % palette.length],
          width: 2,
          points: { show: true, size: 5 },
        })),
      ],
    };
    const chart = new uPlot(opts, [[], ...series.map(() => [])], el);
    plot.current = chart;
    const resize = new ResizeObserver(() => chart.setSize({ width: Math.max(200, el.clientWidth), height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      chart.destroy();
      plot.current = null;
    };
    // Rebuilt on a new shape only (see above); values go through setData below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [shape]);

  useEffect(() => {
    plot.current?.setData([x, ...series.map((s) => s.values)] as uPlot.AlignedData);
  }, [x, series, shape]);

  return (
    <figure className="chart" data-testid={testId} data-points={x.length}>
      <figcaption>{title}</figcaption>
      <div ref={box} role="img" aria-label={`${title}: ${summary}`} />
      <ul className="legend" aria-hidden="true">
        {series.map((s, i) => (
          <li key={s.label}>
            <span className={`swatch c${i % palette.length}`} />
            {s.label}
            {s.axis === "right" && rightLabel ? <span className="muted"> (right axis)</span> : null}
          </li>
        ))}
      </ul>
    </figure>
  );
}
