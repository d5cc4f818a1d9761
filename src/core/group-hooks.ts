import { ClusterHealth } from "./cluster-health.ts";
import type { EventListener } from "./events.ts";
import { type GroupTelemetry, noTelemetry } from "./telemetry.ts";

/**
 * What a group reports to its cache on a miss: telemetry (spans, latency),
 * its peers' outcomes (health) and events. Given by `GroupCache.newGroup`.
 */
export interface GroupHooks {
  readonly telemetry: GroupTelemetry;
  readonly health: ClusterHealth;
  readonly emit: EventListener;
}

/** Hooks that report nothing: for a group made outside a `GroupCache`. */
export const noGroupHooks: GroupHooks = {
  telemetry: noTelemetry.group(""),
  health: new ClusterHealth(() => {}),
  emit: () => {},
};
