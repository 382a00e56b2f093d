// bench_grpc_go: the Echo service on grpc-go (Debian's golang-google-grpc-dev), an outside
// reference for the raw gRPC C++ baselines and gryphon. It speaks the baselines' protocol for
// bench/compare.py: --listen HOST:PORT (port 0 picks a free port), `listening on HOST:PORT` on
// stdout once it accepts RPCs, `ok_rpcs N` (RPCs answered OK so far) on SIGUSR1, and on SIGTERM or
// SIGINT a graceful stop (at most 2 s, as the C++ servers' shutdown deadline), `ok_rpcs N` again
// and exit 0. The handler copies the request's content into the response, as theirs does.
// Ticker/Ticks is bench/streams.py's held server stream.
//
// Built by bench/CMakeLists.txt in GOPATH mode against the packaged sources; the echopb package
// is generated into the build tree by Debian's protoc-gen-go (protobuf API v2) and
// protoc-gen-go-grpc. GOMAXPROCS is left to the environment (compare.py sets 1;
// under taskset the Go runtime would pick the pinned core count anyway).
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"

	"gryphon/bench/echopb"
)

type echoServer struct {
	echopb.UnimplementedEchoServer
	okRPCs uint64
	delay  time.Duration // BENCH_HANDLER_DELAY_US: each call waits this long first (time.Sleep)
}

// Call answers with the request's message and, when the request has one, its complex message:
// the same bytes the C++ servers send back. The count is taken when the handler returns OK,
// just before grpc-go writes the response; compare.py's check is against the client's count
// after the run has drained, so an RPC counted here whose response was lost shows up as a
// mismatch there.
func (s *echoServer) Call(_ context.Context, request *echopb.EchoRequest) (*echopb.EchoResponse, error) {
	if s.delay > 0 {
		time.Sleep(s.delay)
	}
	response := &echopb.EchoResponse{Message: request.GetMessage(), Complex: request.GetComplex()}
	atomic.AddUint64(&s.okRPCs, 1)
	return response, nil
}

// tickerServer is bench/streams.py's server stream: a goroutine per stream, as grpc-go serves
// every call, sleeping between messages.
type tickerServer struct {
	echopb.UnimplementedTickerServer
}

func (tickerServer) Ticks(request *echopb.TicksRequest, stream echopb.Ticker_TicksServer) error {
	interval := time.Duration(request.GetIntervalMillis()) * time.Millisecond
	for i := int32(0); i < request.GetCount(); i++ {
		select {
		case <-time.After(interval):
		case <-stream.Context().Done():
			return stream.Context().Err()
		}
		if err := stream.Send(&echopb.EchoResponse{Message: strconv.Itoa(int(i))}); err != nil {
			return err
		}
	}
	return nil
}

func (s *echoServer) announceOK() {
	fmt.Printf("ok_rpcs %d\n", atomic.LoadUint64(&s.okRPCs))
}

func main() {
	flags := flag.NewFlagSet(os.Args[0], flag.ContinueOnError)
	listen := flags.String("listen", "127.0.0.1:50051",
		"host:port to listen on; port 0 picks a free port, printed when ready")
	if err := flags.Parse(os.Args[1:]); err != nil {
		if err == flag.ErrHelp {
			os.Exit(0)
		}
		os.Exit(2)
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "%s: unexpected argument %q (see --help)\n", os.Args[0], flags.Arg(0))
		os.Exit(2)
	}
	colon := strings.LastIndex(*listen, ":")
	if colon < 0 {
		fmt.Fprintf(os.Stderr, "%s: --listen: expected host:port, got '%s'\n", os.Args[0], *listen)
		os.Exit(2)
	}

	// Subscribed before anything is served, so no signal can arrive unhandled (and kill us).
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGUSR1, syscall.SIGTERM, syscall.SIGINT)

	listener, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: cannot listen on %s: %v\n", os.Args[0], *listen, err)
		os.Exit(1)
	}
	registerCodec()
	service := &echoServer{}
	if delay := os.Getenv("BENCH_HANDLER_DELAY_US"); delay != "" {
		micros, err := strconv.Atoi(delay)
		if err != nil || micros < 0 {
			fmt.Fprintf(os.Stderr, "%s: BENCH_HANDLER_DELAY_US: expected microseconds, got '%s'\n", os.Args[0], delay)
			os.Exit(2)
		}
		service.delay = time.Duration(micros) * time.Microsecond
	}
	server := grpc.NewServer()
	echopb.RegisterEchoServer(server, service)
	echopb.RegisterTickerServer(server, tickerServer{})
	served := make(chan error, 1)
	go func() { served <- server.Serve(listener) }()
	port := listener.Addr().(*net.TCPAddr).Port
	fmt.Printf("listening on %s:%d\n", (*listen)[:colon], port)

	for stopping := false; !stopping; {
		select {
		case sig := <-signals:
			if sig == syscall.SIGUSR1 {
				service.announceOK()
			} else {
				stopping = true
			}
		case err := <-served:
			fmt.Fprintf(os.Stderr, "%s: serve: %v\n", os.Args[0], err)
			os.Exit(1)
		}
	}
	stopped := make(chan struct{})
	go func() {
		server.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(2 * time.Second):
		server.Stop()
	}
	service.announceOK()
}
