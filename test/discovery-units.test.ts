import { describe, expect, test } from "vitest";
import { connectDiscovery, type PeerDiscovery, staticDiscovery } from "../src/core/membership.ts";
import { formatPeerId, normalizePeerIds, samePeerIds } from "../src/core/peer-id.ts";
import { createDenoResolver } from "../src/discovery/deno-resolver.ts";
import { createDnsSrvDiscovery } from "../src/discovery/dns-srv.ts";
import { createNodeResolver } from "../src/discovery/node-resolver.ts";
import { jitteredDelay, sleep } from "../src/discovery/poll.ts";
import { isIpLiteral, parseServerAddress, stripTrailingDot } from "../src/discovery/resolver.ts";
import { srvName } from "../src/discovery/srv-name.ts";
import { GroupCache, GroupCacheError } from "../src/index.ts";
import { MemoryNetwork } from "../src/testing/memory-network.ts";
import { Recorder } from "./helpers/watch.ts";

// The parts of discovery that need no network.

const invalid = (message: RegExp | string) =>
  expect.objectContaining({
    code: "invalid-argument",
    message: typeof message === "string" ? expect.stringContaining(message) : expect.stringMatching(message),
  });

describe("peer ids", () => {
  test("ipv4 is ip:port, ipv6 is [ip]:port, hosts are lowercased", () => {
    expect(formatPeerId("10.1.2.3", 8080)).toBe("10.1.2.3:8080");
    expect(formatPeerId("FD00::A", 8080)).toBe("[fd00::a]:8080");
    expect(formatPeerId("[fd00::a]", 1)).toBe("[fd00::a]:1");
    expect(formatPeerId("Cache-0.Cache", 65535)).toBe("cache-0.cache:65535");
  });

  test("bad hosts and ports are rejected naming the value", () => {
    expect(() => formatPeerId("", 80)).toThrowError(invalid('got ""'));
    for (const port of [0, 65536, 1.5, Number.NaN]) {
      expect(() => formatPeerId("10.0.0.1", port)).toThrowError(invalid(`got ${String(port)}`));
    }
  });

  test("normalizing sorts and deduplicates; equal sets compare equal whatever the order", () => {
    const a = normalizePeerIds(["10.0.0.3:1", "10.0.0.1:1", "10.0.0.3:1", "10.0.0.2:1"]);
    expect(a).toEqual(["10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1"]);
    expect(samePeerIds(a, normalizePeerIds(["10.0.0.2:1", "10.0.0.1:1", "10.0.0.3:1"]))).toBe(true);
    expect(samePeerIds(a, ["10.0.0.1:1", "10.0.0.2:1"])).toBe(false);
    expect(() => normalizePeerIds(["a", ""])).toThrowError(invalid('got ""'));
  });
});

describe("dns names and servers", () => {
  test("trailing dots are stripped", () => {
    expect(stripTrailingDot("a.b.")).toBe("a.b");
    expect(stripTrailingDot("a.b")).toBe("a.b");
    expect(stripTrailingDot(".")).toBe("");
  });

  test("ip literals are recognised", () => {
    for (const ip of ["10.0.0.1", "255.255.255.255", "::1", "fd00::a", "::ffff:10.0.0.1"])
      expect(isIpLiteral(ip), ip).toBe(true);
    for (const host of ["10.0.0", "256.0.0.1", "a.b.c.d", "10-0-0-1.fib", "", "[::1]"])
      expect(isIpLiteral(host), host).toBe(false);
  });

  test("server addresses: ip, ip:port, ipv6, [ipv6]:port; port 53 by default", () => {
    expect(parseServerAddress("10.96.0.10")).toEqual({ ip: "10.96.0.10", port: 53 });
    expect(parseServerAddress("127.0.0.1:5353")).toEqual({ ip: "127.0.0.1", port: 5353 });
    expect(parseServerAddress("fd00::a")).toEqual({ ip: "fd00::a", port: 53 });
    expect(parseServerAddress("[fd00::a]:5353")).toEqual({ ip: "fd00::a", port: 5353 });
    for (const bad of ["", "kube-dns:53", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:x", "[fd00::a]:99999"]) {
      expect(() => parseServerAddress(bad), bad).toThrowError(invalid(JSON.stringify(bad)));
    }
  });

  test("the srv name of a headless service is fully qualified", () => {
    expect(srvName({ service: "fib", namespace: "prod" })).toBe("_groupcache._tcp.fib.prod.svc.cluster.local");
    expect(srvName({ service: "fib", namespace: "prod", portName: "peers", clusterDomain: "k8s.example.com." })).toBe(
      "_peers._tcp.fib.prod.svc.k8s.example.com",
    );
    expect(srvName({ name: "_GC._tcp.Cache.Example.com." })).toBe("_gc._tcp.cache.example.com");
  });

  test("bad or short names fail with a message naming the value", () => {
    expect(() => srvName({ namespace: "prod" })).toThrowError(invalid("service must be one lowercase dns label"));
    expect(() => srvName({ service: "fib" })).toThrowError(invalid("namespace must be"));
    expect(() => srvName({ service: "Fib", namespace: "prod" })).toThrowError(invalid('got "Fib"'));
    expect(() => srvName({ service: "fib", namespace: "prod", portName: "a-very-long-port-name" })).toThrowError(
      invalid("portName must be a kubernetes port name"),
    );
    expect(() => srvName({ service: "fib", namespace: "prod", portName: "8080" })).toThrowError(invalid('got "8080"'));
    expect(() => srvName({ service: "fib", namespace: "prod", clusterDomain: "" })).toThrowError(
      invalid("clusterDomain"),
    );
    expect(() => srvName({ name: "_gc._tcp.fib", service: "fib" })).toThrowError(invalid("either name or service"));
    expect(() => srvName({ name: "fib.prod.svc.cluster.local" })).toThrowError(
      invalid('"_<port>._tcp.<service>.<domain>"'),
    );
    expect(() => srvName({ name: "_gc._tcp.fib.prod.svc" })).toThrowError(invalid("is not fully qualified"));
  });
});

describe("polling", () => {
  test("jittered delays stay within interval × [1 - jitter, 1 + jitter)", () => {
    expect(jitteredDelay(5000, 0.2, () => 0)).toBe(4000);
    expect(jitteredDelay(5000, 0.2, () => 0.5)).toBe(5000);
    expect(jitteredDelay(5000, 0.2, () => 0.999999)).toBeLessThan(6000);
    expect(jitteredDelay(5000, 0, () => 0.9)).toBe(5000);
    let min = Number.POSITIVE_INFINITY;
    let max = 0;
    for (let i = 0; i < 10_000; i++) {
      const d = jitteredDelay(5000, 0.2);
      min = Math.min(min, d);
      max = Math.max(max, d);
    }
    expect(min).toBeGreaterThanOrEqual(4000);
    expect(max).toBeLessThan(6000);
    // Spread, not a constant: 10,000 samples cover most of the range.
    expect(max - min).toBeGreaterThan(1900);
  });

  test("sleep ends early with false on abort and true after the delay", async () => {
    const controller = new AbortController();
    const long = sleep(60_000, controller.signal);
    controller.abort();
    expect(await long).toBe(false);
    expect(await sleep(1, new AbortController().signal)).toBe(true);
    expect(await sleep(1, AbortSignal.abort())).toBe(false);
  });

  test("dns srv options are validated eagerly", () => {
    const resolver = createNodeResolver();
    const base = { resolver, service: "fib", namespace: "prod" };
    expect(() => createDnsSrvDiscovery({ ...base, intervalMs: 0 })).toThrowError(
      invalid("intervalMs must be a finite number > 0, got 0"),
    );
    expect(() => createDnsSrvDiscovery({ ...base, jitter: 1 })).toThrowError(
      invalid("jitter must be a number from 0 to below 1, got 1"),
    );
    expect(() => createDnsSrvDiscovery({ ...base, lookupTimeoutMs: -1 })).toThrowError(
      invalid("lookupTimeoutMs must be a finite number > 0, got -1"),
    );
    expect(() => createDnsSrvDiscovery({ ...base, family: 5 as 4 })).toThrowError(invalid("got 5"));
    expect(() => createDnsSrvDiscovery({ ...base, resolver: {} as typeof resolver })).toThrowError(
      invalid("resolver must"),
    );
    expect(() => createNodeResolver({ server: "kube-dns" })).toThrowError(invalid('"kube-dns"'));
    expect(() => createNodeResolver({ tries: 0 })).toThrowError(invalid("tries must be a positive integer, got 0"));
    expect(() => createDenoResolver({ server: "10.0.0.1:0" })).toThrowError(invalid('"10.0.0.1:0"'));
    expect(() => createDenoResolver({ probeName: "" })).toThrowError(invalid('probeName must be a dns name, got ""'));
  });
});

describe("connecting a discovery to a cache", () => {
  const network = new MemoryNetwork();
  const self = "10.0.0.1:8080";

  test("a static list is applied once, with self added", async () => {
    const cache = network.add(self);
    const recorder = new Recorder();
    const membership = connectDiscovery(cache, staticDiscovery(["10.0.0.3:8080", "10.0.0.2:8080", "10.0.0.2:8080"]), {
      onChange: recorder.onChange,
    });
    expect(cache.peers).toEqual(["10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"]);
    expect(membership.discovered).toEqual(["10.0.0.2:8080", "10.0.0.3:8080"]);
    expect(recorder.changes).toEqual([[self], cache.peers]);
    await membership.close();
    await cache.close();
  });

  test("includeSelf: false uses the list as it is", async () => {
    const cache = network.add(self);
    const membership = connectDiscovery(cache, staticDiscovery(["10.0.0.2:8080"]), { includeSelf: false });
    expect(cache.peers).toEqual(["10.0.0.2:8080"]);
    await membership.close();
    await cache.close();
  });

  test("leave removes self now and from every later set, and discovery goes on", async () => {
    let push: (ids: string[]) => void = () => {};
    const manual: PeerDiscovery = {
      watch: (listener, { signal }) => {
        push = (ids) => listener.onPeers(ids);
        return new Promise((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
      },
    };
    const cache = network.add(self);
    const membership = connectDiscovery(cache, manual);
    push([self, "10.0.0.2:8080"]);
    expect(cache.peers).toEqual([self, "10.0.0.2:8080"]);
    membership.leave();
    expect(membership.left).toBe(true);
    expect(cache.peers).toEqual(["10.0.0.2:8080"]);
    expect(cache.ownerOf("any key")).toBe("10.0.0.2:8080");
    push([self, "10.0.0.2:8080", "10.0.0.3:8080"]);
    expect(cache.peers).toEqual(["10.0.0.2:8080", "10.0.0.3:8080"]);
    await membership.close();
    await cache.close();
  });

  test("a set that cannot be applied is reported and the ring is kept", async () => {
    const cache = new GroupCache({ self }); // no peerClient: other peers cannot be reached
    const recorder = new Recorder();
    const membership = connectDiscovery(cache, staticDiscovery(["10.0.0.2:8080"]), { onError: recorder.onError });
    expect(cache.peers).toEqual([self]);
    expect(recorder.errors).toHaveLength(1);
    expect(recorder.errors[0]).toBeInstanceOf(GroupCacheError);
    expect(recorder.errors[0]?.code).toBe("invalid-argument");
    await membership.close();
  });

  test("bad options and ids are refused at once, naming the value", () => {
    const cache = network.add(self);
    expect(() => connectDiscovery(cache, staticDiscovery([]), { includeSelf: "yes" as never })).toThrowError(
      invalid('connectDiscovery: includeSelf must be true or false, got "yes"'),
    );
    expect(() => connectDiscovery(cache, staticDiscovery([]), { signal: "stop" as never })).toThrowError(
      invalid('connectDiscovery: signal must be an AbortSignal, got "stop"'),
    );
    expect(() => staticDiscovery(["10.0.0.2"])).toThrowError(
      invalid('staticDiscovery: ids: peer id "10.0.0.2" has no port: pass host:port, such as "10.0.0.2:8080"'),
    );
    expect(cache.peers).toEqual([]);
  });

  test("an aborted signal stops watching; close resolves when stopped", async () => {
    const cache = network.add(self);
    const controller = new AbortController();
    const membership = connectDiscovery(cache, staticDiscovery([]), { signal: controller.signal });
    controller.abort();
    await membership.closed;
    await membership.close();
    expect(cache.peers).toEqual([self]);
    await cache.close();
  });

  test("throwing hooks are reported, not thrown", async () => {
    const cache = network.add(self);
    const recorder = new Recorder();
    const membership = connectDiscovery(cache, staticDiscovery(["10.0.0.2:8080"]), {
      onChange: () => {
        throw new Error("boom");
      },
      onError: recorder.onError,
    });
    expect(cache.peers).toEqual([self, "10.0.0.2:8080"]);
    expect(recorder.errors.map((e) => e.message)).toEqual(["onChange hook failed: boom", "onChange hook failed: boom"]);
    expect(() => membership.leave()).not.toThrow();
    await membership.close();
    await cache.close();
  });
});
