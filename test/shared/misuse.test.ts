import { describe, expect, test } from "vitest";
import { GroupCache, type GroupOptions, staticDiscovery } from "../../src/index.ts";
import { startPeerWith } from "../../src/runtime/start-peer.ts";

// Misuse is refused at once, where it happens, with `invalid-argument`
// naming the bad value and saying what to pass instead: never by a
// confusing failure later.

const invalid = (message: string) => expect.objectContaining({ code: "invalid-argument", message });

const listOfTwo = 'pass ["a:1","b:2"] for a list';

describe("a string where a list of peer ids belongs", () => {
  test("setPeers refuses it (a string is iterable: it would become one peer per character)", () => {
    const cache = new GroupCache({
      self: "a:1",
      peerClient: () => ({ get: () => Promise.reject(), close: async () => {} }),
    });
    expect(() => cache.setPeers("a:1,b:2" as unknown as string[])).toThrowError(
      invalid(`setPeers: ids must be an array (or other iterable) of strings, got the string "a:1,b:2"; ${listOfTwo}`),
    );
    expect(cache.peers).toEqual([]);
  });

  test("staticDiscovery refuses it", () => {
    expect(() => staticDiscovery("a:1,b:2" as unknown as string[])).toThrowError(
      invalid(
        `staticDiscovery: ids must be an array (or other iterable) of strings, got the string "a:1,b:2"; ${listOfTwo}`,
      ),
    );
  });

  test("startPeer refuses it before listening", async () => {
    const defaults = {
      resolver: () => {
        throw new Error("no resolver is needed for a static list");
      },
    };
    await expect(
      startPeerWith(defaults, { host: "127.0.0.1", peers: "a:1,b:2" as unknown as string[] }),
    ).rejects.toThrowError(
      invalid(
        `startPeer: peers must be an array (or other iterable) of strings, got the string "a:1,b:2"; ${listOfTwo}`,
      ),
    );
  });
});

describe("peer ids that are not host:port", () => {
  test("setPeers names a URL's scheme and the id to pass instead", () => {
    const cache = new GroupCache({ self: "10.0.0.2:8080" });
    expect(() => cache.setPeers(["http://10.0.0.1:8080"])).toThrowError(
      invalid(
        'setPeers: ids: peer id "http://10.0.0.1:8080" has a scheme (http://): peer ids have no scheme: pass "10.0.0.1:8080"',
      ),
    );
    expect(() => cache.setPeers(["10.0.0.2:8080", "cache-1"])).toThrowError(
      invalid('setPeers: ids: peer id "cache-1" has no port: pass host:port, such as "cache-1:8080"'),
    );
    expect(cache.peers).toEqual([]);
  });

  test('self must be "" or a host:port peer id', () => {
    expect(() => new GroupCache({ self: "not a peer id" })).toThrowError(
      invalid(
        'self must be "" or a host:port peer id, but "not a peer id" has no port: pass host:port, such as "not a peer id:8080"',
      ),
    );
    expect(() => new GroupCache({ self: "http://10.0.0.1:8080" })).toThrowError(
      invalid(
        'self must be "" or a host:port peer id, but "http://10.0.0.1:8080" has a scheme (http://): peer ids have no scheme: pass "10.0.0.1:8080"',
      ),
    );
    expect(() => new GroupCache({ self: 8080 as unknown as string })).toThrowError(
      invalid('self must be "" or a host:port peer id such as "10.0.0.1:8080", got 8080'),
    );
    expect(new GroupCache({ self: "" }).self).toBe("");
    expect(new GroupCache({ self: "[::1]:8080" }).self).toBe("[::1]:8080");
  });

  test("other GroupCache options are checked too", () => {
    expect(() => new GroupCache(null as never)).toThrowError(
      invalid("GroupCache options must be an options object, got null"),
    );
    expect(() => new GroupCache({ replicas: 0 })).toThrowError(invalid("replicas must be a positive integer, got 0"));
    expect(() => new GroupCache({ peerClient: "grpc" as never })).toThrowError(
      invalid('peerClient must be a function, got "grpc"'),
    );
  });
});

describe("group options", () => {
  const cache = new GroupCache();
  const newGroup = (options: Partial<GroupOptions<unknown, unknown>>) =>
    cache.newGroup({ name: "g", getter: () => "v", ...options } as GroupOptions<unknown, unknown>);

  test("a hot policy that is not a function", () => {
    expect(() => newGroup({ hotPolicy: 5 as never })).toThrowError(
      invalid(
        'group "g": hotPolicy must be a function (such as randomHotPolicy(10), qpsHotPolicy(60) or neverHot), got 5',
      ),
    );
  });

  test("a codec that is not an object with encode and decode", () => {
    const expected =
      'group "g": codec must be an object with encode and decode functions (such as stringCodec or jsonCodec())';
    expect(() => newGroup({ codec: "string" as never })).toThrowError(invalid(`${expected}, got "string"`));
    expect(() => newGroup({ codec: { encode: () => new Uint8Array() } as never })).toThrowError(
      invalid(`${expected}, got Object`),
    );
  });

  test("no options at all", () => {
    const expected = "group options must be an object with a name and a getter";
    expect(() => (cache.newGroup as (options?: unknown) => unknown)()).toThrowError(
      invalid(`${expected}, got undefined`),
    );
    expect(() => cache.newGroup(null as never)).toThrowError(invalid(`${expected}, got null`));
  });
});

describe("get options", () => {
  async function cachedGroup() {
    const group = new GroupCache().newGroup({ name: "g", getter: (key) => `v:${key}` });
    await group.get("k");
    return group;
  }

  test("a signal that is not an AbortSignal is refused on a hit as on a miss, and not counted", async () => {
    const group = await cachedGroup();
    const before = [group.stats, group.cacheStats("main"), group.cacheStats("hot")];
    for (const key of ["k", "missing"]) {
      await expect(group.get(key, { signal: 5 as never })).rejects.toThrowError(
        invalid('group "g": signal must be an AbortSignal, got 5'),
      );
    }
    expect([group.stats, group.cacheStats("main"), group.cacheStats("hot")]).toEqual(before);
  });

  test("options that are not an object are refused on a hit", async () => {
    const group = await cachedGroup();
    await expect(group.get("k", 5 as never)).rejects.toThrowError(
      invalid('group "g": get options must be an options object, got 5'),
    );
    await expect(group.get("k", null as never)).rejects.toThrowError(
      invalid('group "g": get options must be an options object, got null'),
    );
    expect(group.stats).toMatchObject({ gets: 1, cacheHits: 0 });
  });

  test("empty options answer a hit, counted as one", async () => {
    const group = await cachedGroup();
    expect(String(await group.get("k", {}))).toBe("v:k");
    expect(String(await group.get("k", { signal: new AbortController().signal }))).toBe("v:k");
    expect(group.stats).toMatchObject({ gets: 3, cacheHits: 2, loads: 1 });
    // The first get: a miss, then the look inside the flight; then two hits.
    expect(group.cacheStats("main")).toMatchObject({ gets: 4, hits: 2 });
  });
});
