"""A Python client of a groupcache peer, from code generated from
proto/groupcachepb/groupcache.proto with grpc_tools (Debian's
python3-grpc-tools). Usage: python3 python_client.py <generated dir>
<host:port> <group> <key>...  Prints one line per key: "<key> ok <value>" or
"<key> error <code> <message>"."""
import sys

sys.path.insert(0, sys.argv[1])

import grpc  # noqa: E402
from groupcachepb import groupcache_pb2, groupcache_pb2_grpc  # noqa: E402

with grpc.insecure_channel(sys.argv[2]) as channel:
    client = groupcache_pb2_grpc.GroupCacheStub(channel)
    for key in sys.argv[4:]:
        try:
            res = client.Get(groupcache_pb2.GetRequest(group=sys.argv[3], key=key), timeout=10)
            print(f"{key} ok {res.value.decode()}")
        except grpc.RpcError as error:
            print(f"{key} error {error.code().name} {error.details()}")
