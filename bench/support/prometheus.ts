/**
 * Reads a scrape in Prometheus text format: the returned function gives the
 * value of the first sample named `name` whose labels include `labels`,
 * `undefined` when there is none.
 */
export function prometheusSamples(text: string) {
  return (name: string, labels: Record<string, string> = {}): number | undefined => {
    for (const line of text.split("\n")) {
      const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)/.exec(line);
      if (match === null || match[1] !== name) continue;
      const have = Object.fromEntries([...(match[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
      if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(match[3]);
    }
    return undefined;
  };
}
