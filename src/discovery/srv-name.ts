import { GroupCacheError } from "../core/errors.ts";
import { stripTrailingDot } from "./resolver.ts";

/** What names the SRV records of a Kubernetes headless Service. */
export interface SrvNameOptions {
  /** The headless Service's name (a DNS label, e.g. `"fib"`). `undefined` (an unset environment variable) is refused with a message naming the option. */
  service?: string | undefined;
  /**
   * The Service's namespace (a DNS label). With the downward API:
   * `metadata.namespace`, e.g. as `process.env.POD_NAMESPACE`; `undefined`
   * (the variable is not set) is refused with a message saying so.
   */
  namespace?: string | undefined;
  /** Name of the Service port peers listen on. Default: `"groupcache"`. */
  portName?: string;
  /** The cluster's DNS domain. Default: `"cluster.local"`. */
  clusterDomain?: string;
  /**
   * A complete SRV name instead of the four options above, for DNS outside
   * Kubernetes, e.g. `"_groupcache._tcp.cache.example.com"`. Default: none.
   */
  name?: string;
}

const label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const srvLabel = /^_[a-z0-9]([-a-z0-9]*[a-z0-9])?$/i;

function invalid(message: string): GroupCacheError {
  return new GroupCacheError("invalid-argument", message);
}

function checkLabel(option: string, value: unknown): string {
  if (typeof value !== "string" || value.length > 63 || !label.test(value)) {
    // Unset is the usual mistake: an environment variable that is not there.
    const unset =
      value !== undefined
        ? ""
        : option === "namespace"
          ? " (not set): pass the Service's namespace, e.g. the pod's metadata.namespace through the downward API"
          : " (not set): pass the headless Service's name";
    throw invalid(
      `${option} must be one lowercase dns label (a-z, 0-9, '-', at most 63 characters), got ${JSON.stringify(value)}${unset}`,
    );
  }
  return value;
}

/**
 * The fully qualified SRV name to query, without a trailing dot:
 * `_<portName>._tcp.<service>.<namespace>.svc.<clusterDomain>`, which a
 * headless Service publishes with one record per ready endpoint.
 *
 * Why fully qualified: resolvers' SRV queries do not apply the search
 * domains of `/etc/resolv.conf` (a short name fails with ENOTFOUND on Node,
 * Bun and Deno alike), so a short name would silently look like "no ready
 * pods". It is rejected here instead, at start-up:
 * - `service`, `namespace` and `portName` must each be one label (a dot in
 *   `service` is a sign of a half-qualified name such as `fib.default`);
 * - a raw `name` must be `_<port>._<proto>.<domain>` with at least two labels
 *   in `<domain>`, and must not end at `.svc` (the cluster domain is
 *   missing). A trailing dot is allowed and means the same name. A name
 *   such as `_p._tcp.fib.default` cannot be told from `_p._tcp.example.com`
 *   and is accepted: prefer the structured options in Kubernetes.
 */
export function srvName(options: SrvNameOptions): string {
  if (options.name !== undefined) {
    for (const key of ["service", "namespace", "portName", "clusterDomain"] as const) {
      if (options[key] !== undefined) throw invalid(`give either name or ${key}, not both`);
    }
    return checkRawName(options.name);
  }
  const service = checkLabel("service", options.service);
  const namespace = checkLabel("namespace", options.namespace);
  const portName = options.portName ?? "groupcache";
  // Kubernetes port names are IANA service names: at most 15 characters.
  if (typeof portName !== "string" || portName.length > 15 || !label.test(portName) || !/[a-z]/.test(portName)) {
    throw invalid(
      `portName must be a kubernetes port name (a-z, 0-9, '-', with a letter, at most 15 characters), got ${JSON.stringify(portName)}`,
    );
  }
  const clusterDomain = options.clusterDomain ?? "cluster.local";
  const domain = typeof clusterDomain === "string" ? stripTrailingDot(clusterDomain) : "";
  if (domain === "" || !domain.split(".").every((part) => label.test(part))) {
    throw invalid(`clusterDomain must be a dns domain such as "cluster.local", got ${JSON.stringify(clusterDomain)}`);
  }
  return `_${portName}._tcp.${service}.${namespace}.svc.${domain}`;
}

function checkRawName(raw: unknown): string {
  if (typeof raw !== "string") throw invalid(`name must be a string, got ${JSON.stringify(raw)}`);
  const name = stripTrailingDot(raw.toLowerCase());
  const parts = name.split(".");
  const [port, proto, ...domain] = parts;
  if (port === undefined || proto === undefined || !srvLabel.test(port) || !srvLabel.test(proto)) {
    throw invalid(`name must look like "_<port>._tcp.<service>.<domain>", got ${JSON.stringify(raw)}`);
  }
  if (domain.length < 2 || domain.some((part) => part === "") || domain.at(-1) === "svc") {
    throw invalid(
      `name ${JSON.stringify(raw)} is not fully qualified: srv lookups do not use search domains, so give the whole name, e.g. "_groupcache._tcp.fib.default.svc.cluster.local"`,
    );
  }
  return name;
}
