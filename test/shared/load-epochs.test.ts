import { expect, test } from "vitest";
import { LoadEpochs } from "../../src/core/load-epochs.ts";
import { SingleFlight } from "../../src/core/singleflight.ts";
import { deferred } from "../support/deferred.ts";

test("LoadEpochs: a write makes the loads of its key in flight stale, not other keys' nor later loads; records go with the last load", () => {
  const epochs = new LoadEpochs();
  epochs.bump("k"); // nobody loading: nothing to track
  expect(epochs.size).toBe(0);
  const first = epochs.begin("k");
  const other = epochs.begin("o");
  epochs.bump("k");
  const second = epochs.begin("k"); // began after the write
  expect([epochs.current("k", first), epochs.current("k", second), epochs.current("o", other)]).toEqual([
    false,
    true,
    true,
  ]);
  epochs.end("k");
  epochs.end("o");
  expect(epochs.size).toBe(1);
  epochs.end("k");
  expect(epochs.size).toBe(0);
});

test("SingleFlight.forget: the callers of the call in flight keep it, callers from then on start a new one", async () => {
  const flights = new SingleFlight<string>();
  const oldGate = deferred<string>();
  const newGate = deferred<string>();
  const old = flights.do("k", () => oldGate.promise);
  flights.forget("k");
  expect(flights.size).toBe(0);
  const fresh = flights.do("k", () => newGate.promise);
  const joined = flights.do("k", () => "never called");
  oldGate.resolve("old");
  expect(await old).toBe("old");
  expect(flights.size).toBe(1); // the old call's end leaves the newer one in place
  newGate.resolve("new");
  expect(await Promise.all([fresh, joined])).toEqual(["new", "new"]);
  expect(flights.size).toBe(0);
});
