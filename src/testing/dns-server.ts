import type { DnsHandler, Resource } from "dns2";
import { parsePeerId } from "../core/peer-id.ts";
import { GroupCacheError } from "../index.ts";
import { optionalDependency } from "./optional-dependency.ts";

/** How the test server answers every query. */
export type DnsMode = "answer" | "servfail" | "refused" | "drop";

/** One SRV record served by the test server. */
export interface TestSrv {
  target: string;
  port: number;
}

/**
 * What the test server knows. Names are lowercase, without trailing dot. A
 * name absent from every map answers NXDOMAIN; a name present in another map
 * answers NOERROR with no records (NODATA).
 */
export interface DnsZone {
  /** SRV records per name (`_groupcache._tcp.<service>.<namespace>.svc.cluster.local`); see {@link setPods}. */
  srv: Map<string, TestSrv[]>;
  /** IPv4 addresses per name (the SRV targets'). */
  a: Map<string, string[]>;
  /** IPv6 addresses per name. */
  aaaa: Map<string, string[]>;
  /** How every query is answered; `"answer"` in {@link emptyZone}. */
  mode: DnsMode;
  /** Per-name overrides of `mode`; none in {@link emptyZone}. */
  modes: Map<string, DnsMode>;
  /** Answer records in a random order each time; false in {@link emptyZone}. */
  shuffle: boolean;
}

/** A real DNS server on 127.0.0.1 over UDP whose answers a test changes between polls. */
export interface TestDnsServer {
  readonly zone: DnsZone;
  /** `127.0.0.1:<port>`, for a resolver's `server` option. */
  readonly address: string;
  readonly port: number;
  /** Queries received so far. */
  readonly queries: number;
  /** Stops listening: queries then fail (ICMP port unreachable on loopback). */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  restart(): Promise<void>;
}

/** A zone with no service, only `kubernetes.default.svc.cluster.local`, which every cluster has. */
export function emptyZone(): DnsZone {
  const a = new Map([["kubernetes.default.svc.cluster.local", ["10.96.0.1"]]]);
  return { srv: new Map(), a, aaaa: new Map(), mode: "answer", modes: new Map(), shuffle: false };
}

function shuffled<T>(items: T[], on: boolean): T[] {
  const out = [...items];
  if (!on) return out;
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/**
 * Starts a DNS server on 127.0.0.1 (UDP), on a port the system picks,
 * answering from `zone` (default: {@link emptyZone}): point a resolver's
 * `server` option at its `address`, and change the zone between polls.
 *
 * Needs the package `dns2`, an optional peer dependency: without it, fails
 * with `unavailable` ("install dns2 to use startDnsServer").
 */
export async function startDnsServer(zone: DnsZone = emptyZone()): Promise<TestDnsServer> {
  const { default: dns2 } = await optionalDependency(() => import("dns2"), "dns2", "startDnsServer");
  const { Packet } = dns2;
  let queries = 0;
  const handle: DnsHandler = (request, send) => {
    queries++;
    const response = Packet.createResponseFromRequest(request);
    const question = request.questions[0];
    if (question === undefined) return;
    const name = question.name.toLowerCase().replace(/\.$/, "");
    const mode = zone.modes.get(name) ?? zone.mode;
    if (mode === "drop") return;
    if (mode === "servfail" || mode === "refused") {
      response.header.rcode = mode === "servfail" ? Packet.RCODE.SERVFAIL : Packet.RCODE.REFUSED;
      void send(response);
      return;
    }
    const known = zone.srv.has(name) || zone.a.has(name) || zone.aaaa.has(name);
    if (!known) {
      response.header.rcode = Packet.RCODE.NXDOMAIN;
      void send(response);
      return;
    }
    const answer = (record: Partial<Resource>) =>
      response.answers.push(Packet.createResourceFromQuestion(question, { ttl: 1, ...record }));
    if (question.type === Packet.TYPE.SRV) {
      for (const r of shuffled(zone.srv.get(name) ?? [], zone.shuffle)) {
        answer({ priority: 0, weight: 10, port: r.port, target: r.target });
      }
    } else if (question.type === Packet.TYPE.A || question.type === Packet.TYPE.AAAA) {
      const v4 = question.type === Packet.TYPE.A;
      for (const address of shuffled((v4 ? zone.a : zone.aaaa).get(name) ?? [], zone.shuffle)) answer({ address });
    }
    void send(response);
  };

  let server = dns2.createServer({ udp: true, handle });
  const listening = await server.listen({ udp: { port: 0, address: "127.0.0.1" } });
  const port = listening.udp?.port;
  if (port === undefined) throw new GroupCacheError("internal", "the test dns server has no udp port");
  return {
    zone,
    port,
    address: `127.0.0.1:${port}`,
    get queries() {
      return queries;
    },
    async stop() {
      await server.close();
    },
    async restart() {
      server = dns2.createServer({ udp: true, handle });
      await server.listen({ udp: { port, address: "127.0.0.1" } });
    },
  };
}

/** A pod of {@link setPods}: its IP and peer port, or its peer id (`ip:port`, `[ipv6]:port`). */
export type TestPod = { ip: string; port: number } | string;

/**
 * Fills `zone` as a Kubernetes headless Service named by `srvName` (see
 * `srvName()`): one SRV record per pod, target `<dashed-ip>.<service
 * domain>`, whose A (or AAAA) record is the pod's IP. No pods: the name
 * answers NXDOMAIN, as when no pod is ready.
 */
export function setPods(zone: DnsZone, srvName: string, pods: readonly TestPod[]): void {
  const domain = srvName.split(".").slice(2).join(".");
  zone.srv.delete(srvName);
  if (pods.length === 0) return;
  zone.srv.set(
    srvName,
    pods.map((entry) => {
      const pod = typeof entry === "string" ? podOf(entry) : entry;
      const target = `${pod.ip.replaceAll(/[.:]/g, "-")}.${domain}`;
      const map = pod.ip.includes(":") ? zone.aaaa : zone.a;
      map.set(target, [pod.ip]);
      return { target, port: pod.port };
    }),
  );
}

function podOf(id: string): { ip: string; port: number } {
  const { host, port } = parsePeerId(id);
  return { ip: host, port };
}
