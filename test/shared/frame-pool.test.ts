import process from "node:process";
import { describe, expect, test } from "vitest";
import { FramePool } from "../../src/transport/grpc/frame-pool.ts";

// Reuse is only safe where a write's callback means the bytes are gone
// (Node's node:http2); on Bun and Deno every frame gets a fresh buffer.
const reuses = process.versions.bun === undefined && process.versions.deno === undefined;

describe("FramePool", () => {
  test("on Node, frames from a quarter of a slot up to a slot are pooled; elsewhere none is", () => {
    const pool = new FramePool(1024, 4);
    expect(pool.take(255)).toBeUndefined();
    expect(pool.take(1025)).toBeUndefined();
    expect(pool.take(256)?.byteLength).toBe(reuses ? 256 : undefined);
    expect(pool.take(1024)?.byteLength).toBe(reuses ? 1024 : undefined);
  });

  test("a released buffer is handed out again, whole; at most maxFree are kept", () => {
    const pool = new FramePool(1024, 2);
    if (!reuses) {
      expect(pool.take(512)).toBeUndefined();
      return;
    }
    const taken = [pool.take(300), pool.take(400), pool.take(500)] as Buffer[];
    for (const buf of taken) pool.release(buf);
    const again = [pool.take(1024), pool.take(1024), pool.take(1024)] as Buffer[];
    expect(again[0]?.buffer).toBe(taken[1]?.buffer);
    expect(again[1]?.buffer).toBe(taken[0]?.buffer);
    expect(taken.map((t) => t.buffer)).not.toContain(again[2]?.buffer); // the third was dropped, not kept
  });
});
