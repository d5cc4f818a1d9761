// Command gcbench is the Go baseline of the benchmarks in bench/: Debian's
// github.com/golang/groupcache with its HTTP transport (HTTPPool), measured
// in the same run as the TypeScript port, because on a busy machine only
// ratios measured together mean anything. bench/support/go-baseline.ts
// builds and drives it.
//
//	gcbench peer [-transport default|tuned] [script] '<json config>'
//	gcbench local-hit -ops N -sink byteview|allocating
//	gcbench memory -entries N
//
// In peer mode it speaks the JSON-lines protocol of src/testing/protocol.ts
// (the commands the remote benchmark uses: getMany, stats, setPeers,
// newGroup, bench, close), so src/testing's startCluster drives a Go
// cluster exactly as it drives Node peers. That harness appends its peer
// script's path before the configuration; it is ignored here.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang/groupcache"
)

func main() {
	if len(os.Args) < 2 {
		fail(errors.New("usage: gcbench peer|local-hit|memory [flags]"))
	}
	var err error
	switch mode, args := os.Args[1], os.Args[2:]; mode {
	case "peer":
		err = peer(args)
	case "local-hit":
		err = localHit(args)
	case "memory":
		err = memory(args)
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "gcbench:", err)
	os.Exit(1)
}

// expectedValue is the value of key, as src/testing/protocol.ts defines
// it: "v:<key>", padded with "." to valueBytes.
func expectedValue(key string, valueBytes int) string {
	base := "v:" + key
	if valueBytes <= len(base) {
		return base
	}
	return base + strings.Repeat(".", valueBytes-len(base))
}

// printJSON writes v as one line on stdout; replies from concurrent
// commands must not interleave.
var stdoutMu sync.Mutex

func printJSON(v interface{}) {
	line, err := json.Marshal(v)
	if err != nil {
		fail(err)
	}
	stdoutMu.Lock()
	defer stdoutMu.Unlock()
	os.Stdout.Write(append(line, '\n'))
}

// groupSpec is src/testing/protocol.ts's GroupSpec.
type groupSpec struct {
	Name          string          `json:"name"`
	Hot           json.RawMessage `json:"hot"`
	Hang          bool            `json:"hang"`
	GetterDelayMs int             `json:"getterDelayMs"`
	ValueBytes    int             `json:"valueBytes"`
	CacheBytes    *int64          `json:"cacheBytes"`
}

// liveGroup is a group and its getter's calls in this process, which the
// benchmarks check (the herd must cost one call per key, the driver none).
type liveGroup struct {
	group *groupcache.Group
	mu    sync.Mutex
	calls map[string]int
	total int
}

var (
	pool     *groupcache.HTTPPool
	groupsMu sync.Mutex
	groups   = map[string]*liveGroup{}
)

func newGroup(spec groupSpec) error {
	// Go groupcache mirrors 1 in 10 remote hits into the hot cache and has
	// no setting for it: only cacheBytes 0, which turns both caches off,
	// keeps a driver from caching what it fetches.
	if hot := strings.TrimSpace(string(spec.Hot)); hot != "" && hot != `"default"` {
		return fmt.Errorf("group %q: hot %s: Go groupcache has no hot policy; use cacheBytes 0", spec.Name, hot)
	}
	if spec.Hang {
		return fmt.Errorf("group %q: hang is not supported", spec.Name)
	}
	cacheBytes := int64(64 << 20) // the TypeScript port's default
	if spec.CacheBytes != nil {
		cacheBytes = *spec.CacheBytes
	}
	groupsMu.Lock()
	defer groupsMu.Unlock()
	if groups[spec.Name] != nil {
		return fmt.Errorf("group %q already exists", spec.Name)
	}
	live := &liveGroup{calls: map[string]int{}}
	delay := time.Duration(spec.GetterDelayMs) * time.Millisecond
	live.group = groupcache.NewGroup(spec.Name, cacheBytes, groupcache.GetterFunc(
		func(_ context.Context, key string, dest groupcache.Sink) error {
			live.mu.Lock()
			live.calls[key]++
			live.total++
			live.mu.Unlock()
			time.Sleep(delay)
			return dest.SetString(expectedValue(key, spec.ValueBytes))
		}))
	groups[spec.Name] = live
	return nil
}

func liveGroupNamed(name string) (*liveGroup, error) {
	groupsMu.Lock()
	defer groupsMu.Unlock()
	if live := groups[name]; live != nil {
		return live, nil
	}
	return nil, fmt.Errorf("no group %q in this peer", name)
}

// peer runs one groupcache peer: an HTTPPool served on 127.0.0.1 (one per
// process: groupcache registers it globally), controlled by JSON lines on
// stdin until stdin closes.
func peer(args []string) error {
	flags := flag.NewFlagSet("peer", flag.ExitOnError)
	transport := flags.String("transport", "default",
		"HTTP client: default (http.DefaultTransport, 2 idle connections per host) or tuned (256)")
	flags.Parse(args)
	var config struct {
		Host   string      `json:"host"`
		Port   int         `json:"port"`
		Groups []groupSpec `json:"groups"`
	}
	if rest := flags.Args(); len(rest) > 0 {
		if err := json.Unmarshal([]byte(rest[len(rest)-1]), &config); err != nil {
			return fmt.Errorf("configuration: %v", err)
		}
	}
	if config.Host == "" {
		config.Host = "127.0.0.1"
	}
	listener, err := net.Listen("tcp", net.JoinHostPort(config.Host, strconv.Itoa(config.Port)))
	if err != nil {
		return err
	}
	self := "http://" + listener.Addr().String()
	pool = groupcache.NewHTTPPoolOpts(self, nil)
	switch *transport {
	case "default":
	case "tuned":
		tuned := http.DefaultTransport.(*http.Transport).Clone()
		tuned.MaxIdleConns = 0 // no limit
		tuned.MaxIdleConnsPerHost = 256
		pool.Transport = func(context.Context) http.RoundTripper { return tuned }
	default:
		return fmt.Errorf("unknown transport %q", *transport)
	}
	for _, spec := range config.Groups {
		if err := newGroup(spec); err != nil {
			return err
		}
	}
	go func() { fail(http.Serve(listener, pool)) }()
	printJSON(map[string]interface{}{"event": "ready", "id": self, "pid": os.Getpid()})
	return serveCommands()
}

// serveCommands answers each command line of stdin in its own goroutine,
// as the Node peers do, and returns when stdin closes.
func serveCommands() error {
	lines := bufio.NewScanner(os.Stdin)
	lines.Buffer(make([]byte, 64<<10), 64<<20) // a bench command carries its keys
	for lines.Scan() {
		var message struct {
			ID   json.RawMessage `json:"id"`
			Cmd  string          `json:"cmd"`
			Args json.RawMessage `json:"args"`
		}
		if err := json.Unmarshal(lines.Bytes(), &message); err != nil {
			continue // not a command
		}
		go func() {
			reply, err := command(message.Cmd, message.Args)
			if err != nil {
				printJSON(map[string]interface{}{"id": message.ID, "error": err.Error()})
				return
			}
			printJSON(map[string]interface{}{"id": message.ID, "reply": reply})
			if message.Cmd == "close" {
				os.Exit(0)
			}
		}()
	}
	return lines.Err()
}

func command(cmd string, raw json.RawMessage) (interface{}, error) {
	switch cmd {
	case "setPeers":
		var a struct{ Peers []string }
		if err := json.Unmarshal(raw, &a); err != nil {
			return nil, err
		}
		pool.Set(a.Peers...)
		return map[string]bool{"changed": true}, nil
	case "newGroup":
		var spec groupSpec
		if err := json.Unmarshal(raw, &spec); err != nil {
			return nil, err
		}
		return struct{}{}, newGroup(spec)
	case "getMany":
		var a struct {
			Group     string
			Keys      []string
			TimeoutMs int
		}
		if err := json.Unmarshal(raw, &a); err != nil {
			return nil, err
		}
		return getMany(a.Group, a.Keys, time.Duration(a.TimeoutMs)*time.Millisecond)
	case "stats":
		var a struct{ Group string }
		if err := json.Unmarshal(raw, &a); err != nil {
			return nil, err
		}
		return stats(a.Group)
	case "bench":
		var a benchArgs
		if err := json.Unmarshal(raw, &a); err != nil {
			return nil, err
		}
		return bench(a)
	case "close":
		return struct{}{}, nil
	}
	return nil, fmt.Errorf("unknown command %q", cmd)
}

// getOutcome is src/testing/protocol.ts's GetOutcome.
type getOutcome struct {
	OK      bool   `json:"ok"`
	Value   string `json:"value,omitempty"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

// getMany runs every get at once.
func getMany(name string, keys []string, timeout time.Duration) (interface{}, error) {
	live, err := liveGroupNamed(name)
	if err != nil {
		return nil, err
	}
	results := make([]getOutcome, len(keys))
	var wg sync.WaitGroup
	for i, key := range keys {
		wg.Add(1)
		go func(i int, key string) {
			defer wg.Done()
			ctx := context.Background()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			var value string
			if err := live.group.Get(ctx, key, groupcache.StringSink(&value)); err != nil {
				results[i] = getOutcome{Code: "unknown", Message: err.Error()}
				return
			}
			results[i] = getOutcome{OK: true, Value: value}
		}(i, key)
	}
	wg.Wait()
	return map[string]interface{}{"results": results}, nil
}

func stats(name string) (interface{}, error) {
	live, err := liveGroupNamed(name)
	if err != nil {
		return nil, err
	}
	s := &live.group.Stats
	cache := func(which groupcache.CacheType) map[string]int64 {
		c := live.group.CacheStats(which)
		return map[string]int64{"bytes": c.Bytes, "items": c.Items, "gets": c.Gets, "hits": c.Hits, "evictions": c.Evictions}
	}
	live.mu.Lock()
	defer live.mu.Unlock()
	calls := make(map[string]int, len(live.calls))
	for k, n := range live.calls {
		calls[k] = n
	}
	return map[string]interface{}{
		"stats": map[string]int64{
			"gets": s.Gets.Get(), "cacheHits": s.CacheHits.Get(), "peerLoads": s.PeerLoads.Get(),
			"peerErrors": s.PeerErrors.Get(), "loads": s.Loads.Get(), "loadsDeduped": s.LoadsDeduped.Get(),
			"localLoads": s.LocalLoads.Get(), "localLoadErrs": s.LocalLoadErrs.Get(),
			"serverRequests": s.ServerRequests.Get(),
		},
		"main":        cache(groupcache.MainCache),
		"hot":         cache(groupcache.HotCache),
		"getterCalls": calls,
		"getterTotal": live.total,
	}, nil
}

type benchArgs struct {
	Group       string
	Keys        []string
	Concurrency int
	DurationMs  int
	MaxOps      int
}

// bench runs Concurrency goroutines of gets over Keys for DurationMs or
// MaxOps gets, whichever ends first, like the Node peers' bench command.
// Every key must be owned by another peer (the pool's PickPeer says so):
// with cacheBytes 0 on this peer's group, every get then crosses the wire.
func bench(a benchArgs) (interface{}, error) {
	live, err := liveGroupNamed(a.Group)
	if err != nil {
		return nil, err
	}
	if len(a.Keys) == 0 || a.Concurrency < 1 || a.MaxOps < 1 {
		return nil, errors.New("bench: no keys, concurrency or maxOps")
	}
	for _, key := range a.Keys {
		if _, remote := pool.PickPeer(key); !remote {
			return nil, fmt.Errorf("bench: key %q is owned by this peer", key)
		}
	}
	latencies := make([]float64, a.MaxOps) // µs
	var next int64
	// A get whose peer failed falls back to the getter and succeeds; count
	// it as failed, so that a rate is one of remote hits only.
	peerErrors := live.group.Stats.PeerErrors.Get()
	var errs int64
	start := time.Now()
	end := start.Add(time.Duration(a.DurationMs) * time.Millisecond)
	var wg sync.WaitGroup
	for w := 0; w < a.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var value groupcache.ByteView
			for time.Now().Before(end) {
				i := atomic.AddInt64(&next, 1) - 1
				if i >= int64(a.MaxOps) {
					return
				}
				t := time.Now()
				err := live.group.Get(context.Background(), a.Keys[i%int64(len(a.Keys))], groupcache.ByteViewSink(&value))
				latencies[i] = float64(time.Since(t).Nanoseconds()) / 1e3
				if err != nil {
					atomic.AddInt64(&errs, 1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	errs += live.group.Stats.PeerErrors.Get() - peerErrors
	ops := int(next)
	if ops > a.MaxOps {
		ops = a.MaxOps
	}
	done := latencies[:ops]
	sort.Float64s(done)
	at := func(q float64) float64 {
		if ops == 0 {
			return 0
		}
		rank := int(math.Ceil(q*float64(ops))) - 1
		if rank < 0 {
			rank = 0
		}
		return done[rank]
	}
	return map[string]interface{}{
		"ops": ops, "errors": errs, "elapsedMs": float64(elapsed.Nanoseconds()) / 1e6,
		"p50Us": at(0.5), "p99Us": at(0.99),
	}, nil
}

// localHit times ops gets of 1,000 cached keys of 100 bytes in one
// goroutine, after one untimed pass, and prints {"nsPerOp": …}. Sinks:
// byteview (ByteViewSink: the cached bytes themselves, no copy, as the
// TypeScript port's ByteView) or allocating (AllocatingByteSliceSink: a
// private copy per get, as its bytesCodec). One sink serves every get: a
// new one per get costs an allocation (~40 ns here) that Go code can
// avoid, and our hits allocate nothing either, so this is Go's cheapest.
func localHit(args []string) error {
	flags := flag.NewFlagSet("local-hit", flag.ExitOnError)
	ops := flags.Int("ops", 1000000, "timed gets")
	sinkName := flags.String("sink", "byteview", "byteview or allocating")
	flags.Parse(args)
	var view groupcache.ByteView
	var bytes []byte
	var sink groupcache.Sink
	switch *sinkName {
	case "byteview":
		sink = groupcache.ByteViewSink(&view)
	case "allocating":
		sink = groupcache.AllocatingByteSliceSink(&bytes)
	default:
		return fmt.Errorf("unknown sink %q", *sinkName)
	}
	value := make([]byte, 100)
	group := groupcache.NewGroup("local", 64<<20, groupcache.GetterFunc(
		func(_ context.Context, _ string, dest groupcache.Sink) error { return dest.SetBytes(value) }))
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = "key-" + strconv.Itoa(i)
	}
	ctx := context.Background()
	run := func() (time.Duration, error) {
		start := time.Now()
		for i := 0; i < *ops; i++ {
			if err := group.Get(ctx, keys[i%len(keys)], sink); err != nil {
				return 0, err
			}
		}
		return time.Since(start), nil
	}
	if _, err := run(); err != nil { // fills the cache and warms up
		return err
	}
	if hits := group.Stats.CacheHits.Get(); hits != int64(*ops-len(keys)) {
		return fmt.Errorf("%d cache hits in the warm-up, expected %d", hits, *ops-len(keys))
	}
	runtime.GC()
	elapsed, err := run()
	if err != nil {
		return err
	}
	printJSON(map[string]float64{"nsPerOp": float64(elapsed.Nanoseconds()) / float64(*ops)})
	return nil
}

// memory prints the bytes of RSS (and of Go heap) per entry beyond its
// 100-byte value, for entries keys like key-100000 filled through Get into
// a group of a self-only pool, big enough to hold them all. RSS is read
// from /proc/self/statm after a collection that returns free pages to the
// OS, before and after filling.
func memory(args []string) error {
	flags := flag.NewFlagSet("memory", flag.ExitOnError)
	entries := flags.Int("entries", 100000, "entries to cache")
	flags.Parse(args)
	const valueBytes = 100
	const self = "http://127.0.0.1:1" // never dialled: the pool holds only itself
	groupcache.NewHTTPPoolOpts(self, nil).Set(self)
	value := make([]byte, valueBytes)
	group := groupcache.NewGroup("memory", 1<<30, groupcache.GetterFunc(
		func(_ context.Context, _ string, dest groupcache.Sink) error { return dest.SetBytes(value) }))
	before, heapBefore, err := usage()
	if err != nil {
		return err
	}
	ctx := context.Background()
	var view groupcache.ByteView
	for i := 0; i < *entries; i++ {
		if err := group.Get(ctx, "key-"+strconv.Itoa(100000+i), groupcache.ByteViewSink(&view)); err != nil {
			return err
		}
	}
	after, heapAfter, err := usage()
	if err != nil {
		return err
	}
	if items := group.CacheStats(groupcache.MainCache).Items; items != int64(*entries) {
		return fmt.Errorf("%d entries cached, expected %d", items, *entries)
	}
	perEntry := func(a, b uint64) float64 { return (float64(a)-float64(b))/float64(*entries) - valueBytes }
	printJSON(map[string]float64{"rss": perEntry(after, before), "heap": perEntry(heapAfter, heapBefore)})
	runtime.KeepAlive(group)
	return nil
}

// usage collects garbage, returns free pages to the OS, and reads RSS and
// the live heap.
func usage() (rss, heap uint64, err error) {
	runtime.GC()
	debug.FreeOSMemory()
	statm, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, 0, err
	}
	fields := strings.Fields(string(statm))
	if len(fields) < 2 {
		return 0, 0, fmt.Errorf("/proc/self/statm: %q", statm)
	}
	pages, err := strconv.ParseUint(fields[1], 10, 64)
	if err != nil {
		return 0, 0, err
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return pages * uint64(os.Getpagesize()), m.HeapAlloc, nil
}
