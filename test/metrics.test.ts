import { describe, expect, it } from 'vitest';
import { MetricsRegistry } from '../src/metrics.js';

describe('metrics registry', () => {
  it('escapes label values only where the exposition format asks (backslash, newline, quote)', () => {
    const r = new MetricsRegistry();
    const c = r.counter('t_total', 'Test.', ['route', 'status']);
    c.inc({ route: 'iso', status: '206' });
    c.inc({ route: 'iso', status: '206' }, 2);
    c.inc({ route: 'a\\b\n"c"', status: '500' });
    expect(c.get({ route: 'iso', status: '206' })).toBe(3);
    expect(r.render()).toBe(
      '# HELP t_total Test.\n# TYPE t_total counter\nt_total{route="a\\\\b\\n\\"c\\"",status="500"} 1\nt_total{route="iso",status="206"} 3\n',
    );
  });

  it('labels missing from an increment count as empty, and a metric without labels has none', () => {
    const r = new MetricsRegistry();
    const c = r.counter('l_total', 'Test.', ['a', 'b']);
    c.inc({ b: 'x' });
    const g = r.gauge('g', 'Gauge.');
    g.set(5);
    expect(r.render()).toContain('l_total{a="",b="x"} 1\n');
    expect(r.render()).toContain('\ng 5\n');
  });
});
