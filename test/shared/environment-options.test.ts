import { expect, test } from "vitest";
import { srvName } from "../../src/discovery/srv-name.ts";
import { formatPeerId } from "../../src/index.ts";

// Options whose natural source is the environment (the downward API's
// POD_IP and POD_NAMESPACE) accept `undefined` in their types, so
// `process.env.X` passes the typecheck, and refuse it at run time saying
// which one is not set.

const env: Record<string, string | undefined> = {};

test("formatPeerId refuses an unset host, naming what to set", () => {
  expect(formatPeerId("10.0.0.7", 8081)).toBe("10.0.0.7:8081");
  expect(() => formatPeerId(env.POD_IP, 8081)).toThrow(
    expect.objectContaining({
      code: "invalid-argument",
      message:
        "peer host is not set (undefined): pass this process's address, e.g. the pod IP from the downward API (status.podIP) as POD_IP",
    }),
  );
});

test("srvName refuses an unset namespace or service, naming the option", () => {
  expect(srvName({ service: "fib", namespace: "default" })).toBe("_groupcache._tcp.fib.default.svc.cluster.local");
  expect(() => srvName({ service: "fib", namespace: env.POD_NAMESPACE })).toThrow(
    expect.objectContaining({
      code: "invalid-argument",
      message: expect.stringMatching(
        /^namespace must be one lowercase dns label .*, got undefined \(not set\): pass the Service's namespace, e.g. the pod's metadata.namespace/,
      ),
    }),
  );
  expect(() => srvName({ service: env.SERVICE_NAME, namespace: "default" })).toThrow(
    expect.objectContaining({
      message: expect.stringMatching(
        /^service must be one lowercase dns label .*, got undefined \(not set\): pass the headless Service's name$/,
      ),
    }),
  );
});
