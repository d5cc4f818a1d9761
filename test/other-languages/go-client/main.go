// A Go client of a groupcache peer, built from code generated from
// proto/groupcachepb/groupcache.proto with Debian's protoc-gen-go and
// protoc-gen-go-grpc. Usage: go-client <host:port> <group> <key>...
// Prints one line per key: "<key> ok <value>" or "<key> error <code> <message>".
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	pb "github.com/jmuk/groupcache/groupcachepb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// protoCodec marshals with google.golang.org/protobuf, which the generated
// messages implement. Debian's grpc 1.33 would marshal through the older
// github.com/golang/protobuf 1.3, which cannot handle them.
type protoCodec struct{}

func (protoCodec) Marshal(v interface{}) ([]byte, error) { return proto.Marshal(v.(proto.Message)) }
func (protoCodec) Unmarshal(data []byte, v interface{}) error {
	return proto.Unmarshal(data, v.(proto.Message))
}
func (protoCodec) Name() string { return "proto" }

func main() {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: go-client <host:port> <group> <key>...")
		os.Exit(2)
	}
	conn, err := grpc.Dial(os.Args[1], grpc.WithInsecure(), grpc.WithDefaultCallOptions(grpc.ForceCodec(protoCodec{})))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer conn.Close()
	client := pb.NewGroupCacheClient(conn)
	for _, key := range os.Args[3:] {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		res, err := client.Get(ctx, &pb.GetRequest{Group: os.Args[2], Key: key})
		cancel()
		if err != nil {
			st := status.Convert(err)
			fmt.Printf("%s error %s %s\n", key, st.Code(), st.Message())
			continue
		}
		fmt.Printf("%s ok %s\n", key, res.GetValue())
	}
}
