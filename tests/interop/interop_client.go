// interop_client_go: a gRPC interop client on grpc-go 1.33 (Debian's golang-google-grpc-dev),
// written from gRPC's interop test descriptions (doc/interop-test-descriptions.md in the gRPC
// repository).
//
//	interop_client_go --server_host HOST --server_port PORT [--use_tls=true --ca_file CA.pem
//	                  --server_host_override NAME] [--test_case=NAME[,NAME...]|all]
//	                  [--compression_probe=false]
//
// Prints `PASS name` or `FAIL name: why` per case and exits 1 if any failed. grpc-go compresses
// per call, not per message, so client_compressed_streaming sends its second message compressed
// too (said on its PASS line). Whether a received message was compressed is seen through a stats
// handler: its size on the wire differs from its decompressed size only when it was. The
// server_compressed_* calls add grpc-accept-encoding themselves (see acceptingGzip).
// --compression_probe=false skips the client_compressed_* "expect_compressed" probe, for a server
// that cannot tell whether a request arrived compressed.
//
// Built by tests/interop/CMakeLists.txt in GOPATH mode (cmake/GryphonGo.cmake); the testpb
// package is generated into the build tree from grpc/testing/{empty,messages,test}.proto.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/stats"
	"google.golang.org/protobuf/proto"

	pb "gryphon/interop/testpb"
)

// codec is the "proto" codec on the protobuf API v2: grpc-go 1.33's own goes through Debian's
// github.com/golang/protobuf 1.3.5, which cannot handle messages from the packaged protoc-gen-go.
type codec struct{}

func (codec) Marshal(v interface{}) ([]byte, error) { return proto.Marshal(v.(proto.Message)) }
func (codec) Unmarshal(data []byte, v interface{}) error {
	return proto.Unmarshal(data, v.(proto.Message))
}
func (codec) Name() string { return "proto" }

// received records, for a call whose context carries it, the grpc-encoding of the response and
// whether each response message arrived compressed.
type received struct {
	mu         sync.Mutex
	encoding   string
	compressed []bool
}

type receivedKey struct{}

type compressionStats struct{}

func (compressionStats) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (compressionStats) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (compressionStats) HandleConn(context.Context, stats.ConnStats) {}
func (compressionStats) HandleRPC(ctx context.Context, s stats.RPCStats) {
	r, ok := ctx.Value(receivedKey{}).(*received)
	if !ok || !s.IsClient() {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch s := s.(type) {
	case *stats.InHeader:
		r.encoding = s.Compression
	case *stats.InPayload:
		// WireLength counts the 5-byte message prefix; an uncompressed message is as long on the
		// wire as decompressed, a compressed one (here: zeros) is not.
		r.compressed = append(r.compressed, s.WireLength-5 != s.Length)
	}
}

var all = []struct {
	name string
	run  func(*cases)
}{
	{"empty_unary", (*cases).emptyUnary},
	{"large_unary", (*cases).largeUnary},
	{"client_compressed_unary", (*cases).clientCompressedUnary},
	{"server_compressed_unary", (*cases).serverCompressedUnary},
	{"client_streaming", (*cases).clientStreaming},
	{"client_compressed_streaming", (*cases).clientCompressedStreaming},
	{"server_streaming", (*cases).serverStreaming},
	{"server_compressed_streaming", (*cases).serverCompressedStreaming},
	{"ping_pong", (*cases).pingPong},
	{"empty_stream", (*cases).emptyStream},
	{"cancel_after_begin", (*cases).cancelAfterBegin},
	{"cancel_after_first_response", (*cases).cancelAfterFirstResponse},
	{"timeout_on_sleeping_server", (*cases).timeoutOnSleepingServer},
	{"custom_metadata", (*cases).customMetadata},
	{"status_code_and_message", (*cases).statusCodeAndMessage},
	{"special_status_message", (*cases).specialStatusMessage},
	{"unimplemented_method", (*cases).unimplementedMethod},
	{"unimplemented_service", (*cases).unimplementedService},
}

// runCase runs one case and returns "" or why it failed.
func runCase(run func(*cases), c *cases) (why string) {
	defer func() {
		if r := recover(); r != nil {
			if f, ok := r.(failure); ok {
				why = f.why
			} else {
				why = fmt.Sprintf("panic: %v", r)
			}
		}
	}()
	run(c)
	return ""
}

func main() {
	flags := flag.NewFlagSet(os.Args[0], flag.ContinueOnError)
	host := flags.String("server_host", "localhost", "server host to connect to")
	port := flags.Int("server_port", 0, "server port (required)")
	override := flags.String("server_host_override", "", "TLS name (and :authority) to claim")
	useTLS := flags.Bool("use_tls", false, "connect with TLS")
	caFile := flags.String("ca_file", "", "PEM roots for --use_tls (default: the system's)")
	testCase := flags.String("test_case", "all", "a case, a comma-separated list, or all")
	probe := flags.Bool("compression_probe", true, "run the expect_compressed probes")
	if err := flags.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if *port <= 0 || flags.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "%s: give --server_port and only flags (see --help)\n", os.Args[0])
		os.Exit(2)
	}
	var selected []int
	for _, name := range strings.Split(*testCase, ",") {
		found := false
		for i, each := range all {
			if name == "all" || name == each.name {
				selected, found = append(selected, i), true
			}
		}
		if !found {
			var names []string
			for _, each := range all {
				names = append(names, each.name)
			}
			fmt.Fprintf(os.Stderr, "%s: unknown test case %q; give all or some of: %s\n", os.Args[0], name,
				strings.Join(names, " "))
			os.Exit(2)
		}
	}

	encoding.RegisterCodec(codec{}) // replaces the built-in "proto" codec, registered at init
	options := []grpc.DialOption{grpc.WithStatsHandler(compressionStats{})}
	if *useTLS {
		creds, err := credentials.NewClientTLSFromFile(*caFile, *override)
		if *caFile == "" {
			creds, err = credentials.NewClientTLSFromCert(nil, *override), nil
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: --ca_file: %v (give a readable PEM file)\n", os.Args[0], err)
			os.Exit(2)
		}
		options = append(options, grpc.WithTransportCredentials(creds))
	} else {
		options = append(options, grpc.WithInsecure())
	}
	conn, err := grpc.Dial(net.JoinHostPort(*host, strconv.Itoa(*port)), options...)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: cannot set up a channel to the server: %v\n", os.Args[0], err)
		os.Exit(1)
	}

	failed := 0
	for _, i := range selected {
		c := &cases{client: pb.NewTestServiceClient(conn), unimplemented: pb.NewUnimplementedServiceClient(conn),
			probe: *probe}
		if why := runCase(all[i].run, c); why != "" {
			failed++
			fmt.Printf("FAIL %s: %s\n", all[i].name, why)
		} else if len(c.skipped) > 0 {
			fmt.Printf("PASS %s (skipped: %s)\n", all[i].name, strings.Join(c.skipped, "; "))
		} else {
			fmt.Printf("PASS %s\n", all[i].name)
		}
	}
	conn.Close()
	if failed > 0 {
		os.Exit(1)
	}
}
