/**
 * Counters of a group, named as Go groupcache's `Stats` and counted where
 * Go counts them, so that dashboards read the same on both. A get is
 * counted only once its key and options were found valid.
 */
export interface GroupStats {
  /** Gets, from local callers (`get`) and from peers (`serve`, `serveCached`). */
  gets: number;
  /**
   * Lookups that found the key in the main or hot cache: gets answered from
   * cache, plus loads whose look inside the flight found the key (a load
   * that finished just before had filled it). So `gets - cacheHits` can be
   * less than `loads`.
   */
  cacheHits: number;
  /** Values fetched from the owning peer and accepted. */
  peerLoads: number;
  /**
   * Fetches from the owning peer that failed or answered something unusable
   * (not bytes, over `maxValueBytes`, or not decodable); each fell back to
   * a local load. A `not-found` answer, or a caller giving up, is not one.
   */
  peerErrors: number;
  /** Gets whose lookup missed and that went on to load: one per such get, before singleflight. */
  loads: number;
  /**
   * Loads after singleflight whose look inside the flight still missed,
   * and which went on to the owner or the getter: one per flight.
   */
  loadsDeduped: number;
  /**
   * Getter calls whose value was encoded and accepted. One that arrives
   * after `getterTimeoutMs` counts here too (and is cached), besides its
   * timeout in `localLoadErrs`.
   */
  localLoads: number;
  /**
   * Getter calls that threw or rejected, timed out, or returned a value the
   * codec refused or over `maxValueBytes`: at most once per call.
   */
  localLoadErrs: number;
  /** Gets that came from peers (`serve`, `serveCached`). */
  serverRequests: number;
  /**
   * Peek requests sent to a key's previous owners before a local load,
   * after a ring change (see `GroupCache`'s `peekWindowMs`).
   */
  peeks: number;
  /**
   * Peeks that returned the value: each stored in the main cache as if
   * loaded, sparing a getter call (not counted in `localLoads`).
   */
  peekHits: number;
  /**
   * Gets answered with an expired value within its grace (`staleMs`),
   * each starting a background refresh unless one was running; counted in
   * `cacheHits` too.
   */
  staleHits: number;
  /** Gets answered `not-found` from a cached not-found (`notFoundTtlMs`); counted in `cacheHits` too. */
  notFoundHits: number;
  /**
   * Entries a leaving peer handed off to this one and stored in the main
   * cache as if loaded (see `GroupCache.handoff`); entries already held
   * are not counted.
   */
  handoffsStored: number;
}

/** A group's counters at zero. */
export function newGroupStats(): GroupStats {
  return {
    gets: 0,
    cacheHits: 0,
    peerLoads: 0,
    peerErrors: 0,
    loads: 0,
    loadsDeduped: 0,
    localLoads: 0,
    localLoadErrs: 0,
    serverRequests: 0,
    peeks: 0,
    peekHits: 0,
    staleHits: 0,
    notFoundHits: 0,
    handoffsStored: 0,
  };
}
