import { describe, expect, test } from "vitest";
import { parsePeerId, peerIdList } from "../../src/core/peer-id.ts";
import { GroupCacheError } from "../../src/index.ts";

/** The `invalid-argument` error `fn` throws, for exact assertions on its message. */
function refusal(fn: () => unknown): GroupCacheError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(GroupCacheError);
    expect((error as GroupCacheError).code).toBe("invalid-argument");
    return error as GroupCacheError;
  }
  throw new Error("expected a refusal");
}

describe("parsePeerId", () => {
  test("host:port and [ipv6]:port parse into the host a connection uses", () => {
    expect(parsePeerId("10.0.0.7:8080")).toEqual({ host: "10.0.0.7", port: 8080 });
    expect(parsePeerId("[::1]:9")).toEqual({ host: "::1", port: 9 });
    expect(parsePeerId("[FD00::A]:65535")).toEqual({ host: "fd00::a", port: 65535 });
    expect(parsePeerId("Cache-0.Cache.default.svc.cluster.local:1")).toEqual({
      host: "cache-0.cache.default.svc.cluster.local",
      port: 1,
    });
  });

  test("each kind of mistake is named, with what to pass instead", () => {
    const cases: [string, string][] = [
      ["http://10.0.0.1:8080", 'has a scheme (http://): peer ids have no scheme: pass "10.0.0.1:8080"'],
      ["https://cache-0:443/x", 'has a scheme (https://): peer ids have no scheme: pass "cache-0:443"'],
      ["10.0.0.1:8080/get", 'has a path: pass "10.0.0.1:8080"'],
      ["10.0.0.1:8080?x", 'has a path: pass "10.0.0.1:8080"'],
      ["user@10.0.0.1:8080", 'has user info: pass "10.0.0.1:8080"'],
      ["", 'is empty: pass host:port, such as "10.0.0.1:8080"'],
      ["host", 'has no port: pass host:port, such as "host:8080"'],
      ["host:", 'has no port: pass host:port, such as "host:8080"'],
      ["[::1]", 'has no port: pass host:port, such as "[::1]:8080"'],
      [":80", 'has no host: pass host:port, such as "10.0.0.1:80"'],
      ["::1:80", 'has an IPv6 host without brackets: pass "[::1]:80"'],
      ["[::1:80", 'has an unclosed "[": pass an IPv6 host in brackets, such as "[::1]:80"'],
      ["::1]:80", 'has a "]" without "[": pass an IPv6 host in brackets, such as "[::1]:80"'],
      ["h:0", "has port 0, out of range: pass a port from 1 to 65535"],
      ["h:65536", "has port 65536, out of range: pass a port from 1 to 65535"],
      ["h:8a", 'has a port that is not a number ("8a"): pass a port from 1 to 65535'],
      ["a b:1", 'has an invalid host "a b": pass a host name or an IP address'],
    ];
    for (const [id, why] of cases) {
      expect(refusal(() => parsePeerId(id)).message, id).toBe(`peer id ${JSON.stringify(id)} ${why}`);
    }
    expect(refusal(() => parsePeerId(8080 as unknown as string)).message).toBe(
      'peer id must be a "host:port" string such as "10.0.0.1:8080", got 8080',
    );
  });

  test("a list refuses a string and names the list and the bad id", () => {
    expect(peerIdList("ids", new Set(["a:1", "b:2"]))).toEqual(["a:1", "b:2"]);
    expect(refusal(() => peerIdList("ids", "a:1,b:2")).message).toBe(
      'ids must be an array (or other iterable) of strings, got the string "a:1,b:2"; pass ["a:1","b:2"] for a list',
    );
    expect(refusal(() => peerIdList("ids", ["a:1", "http://b:2"])).message).toBe(
      'ids: peer id "http://b:2" has a scheme (http://): peer ids have no scheme: pass "b:2"',
    );
  });
});
