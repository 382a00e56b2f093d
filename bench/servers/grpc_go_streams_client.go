// bench_streams_client: bench/streams.py's load — many server streams held open at once, each
// receiving one message per interval (Ticker/Ticks of bench/echo.proto), on grpc-go's client.
//
//	bench_streams_client --target HOST:PORT --streams 10000 --connections 50 --interval-ms 1000 --hold 10
//
// It opens --streams streams spread evenly over --connections connections (one ClientConn each)
// and waits until every stream has its first message or has ended. Then it prints one line
//
//	held N refused R opened_in_ms T
//
// (held: streams with a message and still open; refused: streams that ended with an error, the
// first error's text follows on stderr) and counts messages for --hold seconds, printing
//
//	messages M in_ms T
//
// then cancels every stream and exits 0. Exit 1 when the first-message wait passes --open-timeout.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	"gryphon/bench/echopb"
)

func main() {
	target := flag.String("target", "127.0.0.1:50051", "host:port of the server")
	streams := flag.Int("streams", 10000, "server streams to hold open at once")
	connections := flag.Int("connections", 50, "connections to spread them over")
	interval := flag.Int("interval-ms", 1000, "milliseconds between two messages of a stream")
	hold := flag.Float64("hold", 10, "seconds to count messages once every stream is open")
	openTimeout := flag.Float64("open-timeout", 60, "seconds to wait for every stream's first message")
	flag.Parse()
	registerCodec()

	conns := make([]*grpc.ClientConn, *connections)
	for i := range conns {
		conn, err := grpc.Dial(*target, grpc.WithInsecure())
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench_streams_client: cannot dial %s: %v\n", *target, err)
			os.Exit(1)
		}
		conns[i] = conn
	}
	ctx, cancel := context.WithCancel(context.Background())
	var messages, first, refused int64
	var firstError sync.Once
	var done sync.WaitGroup
	started := time.Now()
	request := &echopb.TicksRequest{Count: 1 << 30, IntervalMillis: int32(*interval)}
	for i := 0; i < *streams; i++ {
		done.Add(1)
		go func(conn *grpc.ClientConn) {
			defer done.Done()
			stream, err := echopb.NewTickerClient(conn).Ticks(ctx, request)
			seen := false
			for err == nil {
				_, err = stream.Recv()
				if err == nil {
					atomic.AddInt64(&messages, 1)
					if !seen {
						seen = true
						atomic.AddInt64(&first, 1)
					}
				}
			}
			if ctx.Err() == nil { // ended by the server, not by our cancel
				if seen {
					atomic.AddInt64(&first, -1)
				}
				atomic.AddInt64(&refused, 1)
				firstError.Do(func() { fmt.Fprintf(os.Stderr, "bench_streams_client: first stream error: %v\n", err) })
			}
		}(conns[i%len(conns)])
	}
	deadline := started.Add(time.Duration(*openTimeout * float64(time.Second)))
	for atomic.LoadInt64(&first)+atomic.LoadInt64(&refused) < int64(*streams) {
		if time.Now().After(deadline) {
			fmt.Fprintf(os.Stderr, "bench_streams_client: after %.0f s only %d of %d streams had a first "+
				"message (%d refused); raise --open-timeout or open fewer streams\n",
				*openTimeout, atomic.LoadInt64(&first), *streams, atomic.LoadInt64(&refused))
			os.Exit(1)
		}
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Printf("held %d refused %d opened_in_ms %d\n", atomic.LoadInt64(&first), atomic.LoadInt64(&refused),
		time.Since(started).Milliseconds())
	before := atomic.LoadInt64(&messages)
	counting := time.Now()
	time.Sleep(time.Duration(*hold * float64(time.Second)))
	fmt.Printf("messages %d in_ms %d\n", atomic.LoadInt64(&messages)-before, time.Since(counting).Milliseconds())
	cancel()
	done.Wait()
	for _, conn := range conns {
		conn.Close()
	}
}
