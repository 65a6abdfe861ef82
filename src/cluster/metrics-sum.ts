// Sums Prometheus text expositions (format 0.0.4) of several processes into one: a series present
// in several texts gets the sum of its values (counters, gauges, histogram buckets, sums and
// counts all add up), families keep the HELP and TYPE of their first appearance and the order in
// which they first appear. Enough for what src/metrics.ts renders; not a general parser.

interface Family {
  readonly header: string[];
  readonly series: Map<string, number>;
}

export function sumExpositions(texts: readonly string[]): string {
  const families = new Map<string, Family>();
  for (const text of texts) {
    let current: Family | undefined;
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const help = /^# (HELP|TYPE) (\S+)/.exec(line);
      if (help) {
        const name = help[2]!;
        let f = families.get(name);
        if (!f) {
          f = { header: [], series: new Map() };
          families.set(name, f);
        }
        if (f.header.length < 2 && !f.header.some((h) => h.startsWith(`# ${help[1]} `))) f.header.push(line);
        current = f;
        continue;
      }
      if (line.startsWith('#') || !current) continue;
      const cut = line.lastIndexOf(' ');
      const key = line.slice(0, cut);
      const value = Number(line.slice(cut + 1));
      current.series.set(key, (current.series.get(key) ?? 0) + (Number.isNaN(value) ? 0 : value));
    }
  }
  const out: string[] = [];
  for (const f of families.values()) {
    out.push(...f.header);
    for (const [key, value] of f.series) out.push(`${key} ${value === Infinity ? '+Inf' : String(value)}`);
  }
  return `${out.join('\n')}\n`;
}
