// A tiny Prometheus registry: counters, gauges and histograms with labels, rendered in the text
// exposition format 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/). No
// dependency; series render in sorted label order so the output is deterministic. One registry
// per process holds every metric: the HTTP layer's, and collectors that read a component's own
// counters (cache, upstream, remaster pool) when /metrics is scraped, so hot paths keep plain
// number increments and nothing is written out by hand.

type Labels = Readonly<Record<string, string>>;

const NEEDS_ESCAPE = /[\\\n"]/;

function escapeLabel(value: string): string {
  // Label values on hot paths (route, status, outcome) never need escaping: test before replacing.
  if (!NEEDS_ESCAPE.test(value)) return value;
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/** A series' label part; counted on every range request, so a plain loop. */
function labelKey(names: readonly string[], labels: Labels): string {
  let key = '';
  for (let i = 0; i < names.length; i++) {
    const n = names[i]!;
    key += `${i === 0 ? '' : ','}${n}="${escapeLabel(labels[n] ?? '')}"`;
  }
  return key;
}

function formatValue(v: number): string {
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return Number.isNaN(v) ? 'NaN' : String(v);
}

interface Metric {
  readonly name: string;
  render(): string[];
}

abstract class Base implements Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    readonly type: string,
  ) {}
  protected header(): string[] {
    return [`# HELP ${this.name} ${this.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${this.name} ${this.type}`];
  }
  protected series(key: string, suffix = '', extra = ''): string {
    const all = [key, extra].filter((s) => s !== '').join(',');
    return `${this.name}${suffix}${all ? `{${all}}` : ''}`;
  }
  abstract render(): string[];
}

export class Counter extends Base {
  readonly #values = new Map<string, number>();
  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    super(name, help, labelNames, 'counter');
  }
  inc(labels: Labels = {}, by = 1): void {
    const key = labelKey(this.labelNames, labels);
    this.#values.set(key, (this.#values.get(key) ?? 0) + by);
  }
  get(labels: Labels = {}): number {
    return this.#values.get(labelKey(this.labelNames, labels)) ?? 0;
  }
  render(): string[] {
    const keys = [...this.#values.keys()].sort();
    return [...this.header(), ...keys.map((k) => `${this.series(k)} ${formatValue(this.#values.get(k) ?? 0)}`)];
  }
}

export class Gauge extends Base {
  readonly #values = new Map<string, number>();
  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    super(name, help, labelNames, 'gauge');
  }
  set(value: number, labels: Labels = {}): void {
    this.#values.set(labelKey(this.labelNames, labels), value);
  }
  inc(labels: Labels = {}, by = 1): void {
    const key = labelKey(this.labelNames, labels);
    this.#values.set(key, (this.#values.get(key) ?? 0) + by);
  }
  dec(labels: Labels = {}, by = 1): void {
    this.inc(labels, -by);
  }
  get(labels: Labels = {}): number {
    return this.#values.get(labelKey(this.labelNames, labels)) ?? 0;
  }
  render(): string[] {
    const keys = this.#values.size === 0 && this.labelNames.length === 0 ? [''] : [...this.#values.keys()].sort();
    return [...this.header(), ...keys.map((k) => `${this.series(k)} ${formatValue(this.#values.get(k) ?? 0)}`)];
  }
}

export class Histogram extends Base {
  readonly buckets: readonly number[];
  readonly #series = new Map<string, { counts: number[]; sum: number; count: number }>();
  constructor(name: string, help: string, buckets: readonly number[], labelNames: readonly string[] = []) {
    super(name, help, labelNames, 'histogram');
    this.buckets = [...buckets].sort((a, b) => a - b);
  }
  observe(value: number, labels: Labels = {}): void {
    const key = labelKey(this.labelNames, labels);
    let s = this.#series.get(key);
    if (!s) {
      s = { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.#series.set(key, s);
    }
    this.buckets.forEach((b, i) => {
      if (value <= b) s.counts[i] = (s.counts[i] ?? 0) + 1;
    });
    s.sum += value;
    s.count += 1;
  }
  render(): string[] {
    const lines = this.header();
    for (const key of [...this.#series.keys()].sort()) {
      const s = this.#series.get(key)!;
      this.buckets.forEach((b, i) => {
        lines.push(`${this.series(key, '_bucket', `le="${formatValue(b)}"`)} ${s.counts[i] ?? 0}`);
      });
      lines.push(`${this.series(key, '_bucket', 'le="+Inf"')} ${s.count}`);
      lines.push(`${this.series(key, '_sum')} ${formatValue(s.sum)}`);
      lines.push(`${this.series(key, '_count')} ${s.count}`);
    }
    return lines;
  }
}

/** A value read at scrape time from a component that keeps its own counter. */
export class Collected extends Base {
  constructor(
    name: string,
    help: string,
    type: 'counter' | 'gauge',
    private readonly read: () => number,
  ) {
    super(name, help, [], type);
  }
  render(): string[] {
    return [...this.header(), `${this.name} ${formatValue(this.read())}`];
  }
}

export class MetricsRegistry {
  readonly #metrics: Metric[] = [];
  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.#add(new Counter(name, help, labelNames));
  }
  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    return this.#add(new Gauge(name, help, labelNames));
  }
  histogram(name: string, help: string, buckets: readonly number[], labelNames: readonly string[] = []): Histogram {
    return this.#add(new Histogram(name, help, buckets, labelNames));
  }
  /** A counter or gauge whose value `read` gives at scrape time. */
  collect(name: string, help: string, type: 'counter' | 'gauge', read: () => number): Collected {
    return this.#add(new Collected(name, help, type, read));
  }
  /** Text exposition of every metric, in registration order. */
  render(): string {
    return `${this.#metrics.flatMap((m) => m.render()).join('\n')}\n`;
  }
  #add<T extends Metric>(m: T): T {
    if (this.#metrics.some((x) => x.name === m.name)) throw new Error(`metric ${m.name} registered twice`);
    this.#metrics.push(m);
    return m;
  }
}
