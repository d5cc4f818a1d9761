/** The value of option `--name=value` or `--name value` on the command line, if given. */
export function arg(name: string): string | undefined {
  const prefix = `--${name}=`;
  const i = process.argv.findIndex((a) => a === `--${name}` || a.startsWith(prefix));
  if (i === -1) return undefined;
  const a = process.argv[i] as string;
  return a.startsWith(prefix) ? a.slice(prefix.length) : process.argv[i + 1];
}

/** The library roots to measure: this worktree, and first the one of `--baseline DIR` if given. */
export function trees(here: string, resolve: (p: string) => string): { label: string; root: string }[] {
  const baseline = arg("baseline");
  return baseline === undefined
    ? [{ label: "this", root: here }]
    : [
        { label: "baseline", root: resolve(baseline) },
        { label: "this", root: here },
      ];
}
