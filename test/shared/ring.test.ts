import { describe, expect, test } from "vitest";
import { crc32, crc32String } from "../../src/core/crc32.ts";
import { Ring } from "../../src/core/ring.ts";

const enc = new TextEncoder();

describe("crc32", () => {
  // Reference values from Python's zlib.crc32, an implementation independent of ours.
  const vectors: [string, number][] = [
    ["", 0x0],
    ["123456789", 0xcbf43926],
    ["a", 0xe8b7be43],
    ["é", 0x0e048d3e],
    ["日本", 0xc7b7cdcc],
    ["😀", 0x054db544],
    ["10.0.0.1:8080", 0x29d2e7ee],
  ];
  test.each(vectors)("crc32 of %j is the IEEE checksum of its UTF-8 bytes", (s, want) => {
    expect(crc32(enc.encode(s))).toBe(want);
    expect(crc32String(s)).toBe(want);
  });
});

describe("Ring", () => {
  test("owners match Go's algorithm for a fixed peer list (vectors computed with zlib)", () => {
    const ring = new Ring(["10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"]);
    const want: Record<string, string> = {
      a: "10.0.0.2:8080",
      b: "10.0.0.3:8080",
      c: "10.0.0.2:8080",
      "key-0": "10.0.0.2:8080",
      "key-1": "10.0.0.3:8080",
      "key-2": "10.0.0.1:8080",
      "user:42": "10.0.0.3:8080",
      日本: "10.0.0.3:8080",
      "😀": "10.0.0.1:8080",
      "": "10.0.0.2:8080",
    };
    for (const [key, owner] of Object.entries(want)) expect(ring.get(key), key).toBe(owner);
  });

  test("Go's table test: points are hash(i + id), keys go to the next point, wrapping", () => {
    // Hash that reads the decimal string, so points are predictable.
    const hash = (s: string) => Number.parseInt(s, 10);
    // Peers 6, 4, 2 with 3 replicas: points 2,4,6,12,14,16,22,24,26.
    let ring = new Ring(["6", "4", "2"], { replicas: 3, hash });
    const cases: Record<string, string> = { "2": "2", "11": "2", "23": "4", "27": "2" };
    for (const [key, owner] of Object.entries(cases)) expect(ring.get(key), key).toBe(owner);
    // Adding 8 adds points 8, 18, 28: 27 now belongs to 8.
    ring = new Ring(["6", "4", "2", "8"], { replicas: 3, hash });
    expect(ring.get("27")).toBe("8");
    for (const key of ["2", "11", "23"]) expect(ring.get(key)).toBe(cases[key]);
  });

  test("the same peers in any order, duplicated or not, build the same ring", () => {
    const a = new Ring(["p3", "p1", "p2"]);
    const b = new Ring(["p2", "p2", "p1", "p3", "p1"]);
    expect(b.peers).toEqual(["p1", "p2", "p3"]);
    for (let i = 0; i < 2000; i++) expect(b.get(`k${i}`)).toBe(a.get(`k${i}`));
  });

  test("colliding points go to the peer id that sorts last, whatever the insertion order", () => {
    // Every point of every peer collides at 7.
    const hash = (s: string) => (s.startsWith("key") ? 3 : 7);
    expect(new Ring(["b", "a", "c"], { replicas: 4, hash }).get("key")).toBe("c");
    expect(new Ring(["c", "a", "b"], { replicas: 4, hash }).get("key")).toBe("c");
  });

  test("an empty ring owns nothing", () => {
    const ring = new Ring([]);
    expect(ring.isEmpty()).toBe(true);
    expect(ring.get("x")).toBeUndefined();
  });

  test("keys spread evenly over 3 peers with 50 replicas", () => {
    const ring = new Ring(["10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"]);
    const counts = new Map<string, number>();
    const n = 30_000;
    for (let i = 0; i < n; i++) {
      const owner = ring.get(`key-${i}`) as string;
      counts.set(owner, (counts.get(owner) ?? 0) + 1);
    }
    expect(counts.size).toBe(3);
    for (const c of counts.values()) {
      expect(c / n).toBeGreaterThan(0.25);
      expect(c / n).toBeLessThan(0.42);
    }
  });

  test("adding a peer moves keys only to it; removing one moves only its keys", () => {
    const three = new Ring(["a:1", "b:1", "c:1"]);
    const four = new Ring(["a:1", "b:1", "c:1", "d:1"]);
    const n = 20_000;
    let moved = 0;
    for (let i = 0; i < n; i++) {
      const key = `key-${i}`;
      const before = three.get(key);
      const after = four.get(key);
      if (before !== after) {
        moved++;
        expect(after).toBe("d:1");
      }
    }
    // About a quarter of the keys should move to the newcomer.
    expect(moved / n).toBeGreaterThan(0.12);
    expect(moved / n).toBeLessThan(0.38);
    // Removing d restores every key's previous owner exactly.
    for (let i = 0; i < n; i++) {
      const key = `key-${i}`;
      if (four.get(key) !== "d:1") expect(four.get(key)).toBe(three.get(key));
    }
  });

  test("invalid options and ids fail with invalid-argument", () => {
    expect(() => new Ring(["a"], { replicas: 0 })).toThrow(expect.objectContaining({ code: "invalid-argument" }));
    expect(() => new Ring(["a"], { replicas: 1.5 })).toThrow(/replicas must be a positive integer, got 1.5/);
    expect(() => new Ring(["a", ""])).toThrow(/peer id must be a non-empty string/);
  });
});
