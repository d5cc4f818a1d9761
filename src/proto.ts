/**
 * groupcache/proto: the generated protobuf-es schemas of the peer
 * protocol (`proto/groupcachepb/groupcache.proto`, shipped in the package),
 * for TypeScript programs that call a peer directly, e.g. with
 * `createClient(GroupCache, transport)` from `@connectrpc/connect`.
 *
 * `GroupCache.Get` with `GetRequest`/`GetResponse` is the contract shared
 * with the gRPC fork of Go groupcache. `GetStream` and `Peek` are this
 * library's additions. The file only grows: fields and RPCs are added,
 * never renamed or renumbered.
 */

export * from "./gen/groupcachepb/groupcache_pb.ts";
