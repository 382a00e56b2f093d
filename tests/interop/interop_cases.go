// The cases of interop_client_go (see interop_client.go): one method of cases per case of gRPC's
// interop test descriptions, each panicking with a failure that says what it saw when a check
// fails.
package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "gryphon/interop/testpb"
)

const (
	deadline       = 30 * time.Second
	specialMessage = "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n"
	initialKey     = "x-grpc-test-echo-initial"
	initialValue   = "test_initial_metadata_value"
	trailingKey    = "x-grpc-test-echo-trailing-bin"
	trailingValue  = "\xab\xab\xab"
)

type failure struct{ why string }

func check(condition bool, format string, args ...interface{}) {
	if !condition {
		panic(failure{fmt.Sprintf(format, args...)})
	}
}

func expectOK(err error, what string) {
	check(err == nil, "%s failed: %v", what, err)
}

func expectCode(err error, code codes.Code) {
	check(err != nil, "the call succeeded, expected it to fail with %v", code)
	check(status.Code(err) == code, "the call ended with %v, expected %v", err, code)
}

func expectStatus(err error, code codes.Code, message string) {
	expectCode(err, code)
	got := status.Convert(err).Message()
	check(got == message, "status message %q, expected %q", got, message)
}

func zeros(size int) *pb.Payload { return &pb.Payload{Body: make([]byte, size)} }

func expectBody(p *pb.Payload, size int, what string) {
	check(len(p.GetBody()) == size, "%s payload body is %d bytes, expected %d", what, len(p.GetBody()), size)
	check(bytes.Equal(p.GetBody(), make([]byte, size)), "%s payload body is not all zeros", what)
}

func params(sizes ...int) []*pb.ResponseParameters {
	var out []*pb.ResponseParameters
	for _, size := range sizes {
		out = append(out, &pb.ResponseParameters{Size: int32(size)})
	}
	return out
}

type cases struct {
	client        pb.TestServiceClient
	unimplemented pb.UnimplementedServiceClient
	probe         bool
	skipped       []string
}

func call() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), deadline)
}

func (c *cases) emptyUnary() {
	ctx, cancel := call()
	defer cancel()
	response, err := c.client.EmptyCall(ctx, &pb.Empty{})
	expectOK(err, "EmptyCall")
	check(response != nil, "the response is nil")
}

func (c *cases) largeUnary() {
	ctx, cancel := call()
	defer cancel()
	response, err := c.client.UnaryCall(ctx, &pb.SimpleRequest{ResponseSize: 314159, Payload: zeros(271828)})
	expectOK(err, "UnaryCall")
	expectBody(response.GetPayload(), 314159, "response")
}

func (c *cases) clientCompressedUnary() {
	unary := func(expect bool, options ...grpc.CallOption) error {
		ctx, cancel := call()
		defer cancel()
		response, err := c.client.UnaryCall(ctx, &pb.SimpleRequest{ExpectCompressed: &pb.BoolValue{Value: expect},
			ResponseSize: 314159, Payload: zeros(271828)}, options...)
		if err == nil {
			expectBody(response.GetPayload(), 314159, "response")
		}
		return err
	}
	if c.probe {
		expectCode(unary(true), codes.InvalidArgument)
	} else {
		c.skipped = append(c.skipped, "the expect_compressed probe, per --compression_probe=false")
	}
	expectOK(unary(true, grpc.UseCompressor(gzip.Name)), "the compressed call")
	expectOK(unary(false), "the uncompressed call")
}

func expectCompressed(r *received, want []bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	check(len(r.compressed) == len(want), "%d responses seen by the stats handler, expected %d", len(r.compressed),
		len(want))
	for i, compressed := range want {
		if compressed {
			check(r.encoding != "" && r.encoding != "identity", "the call did not compress (grpc-encoding %q)",
				r.encoding)
		}
		check(r.compressed[i] == compressed, "response %d: compressed flag %v, expected %v", i+1, r.compressed[i],
			compressed)
	}
}

// acceptingGzip is a call context that records what the call receives and tells the server that
// this client accepts gzip-compressed responses. grpc-go 1.33 sends grpc-accept-encoding only on
// calls it compresses itself, and a server need not compress toward a client that did not list
// the algorithm (gryphon's native transport does not); later grpc-go releases list it always.
func acceptingGzip(ctx context.Context, r *received) context.Context {
	return metadata.AppendToOutgoingContext(context.WithValue(ctx, receivedKey{}, r), "grpc-accept-encoding",
		"identity,"+gzip.Name)
}

func (c *cases) serverCompressedUnary() {
	for _, compressed := range []bool{true, false} {
		r := &received{}
		ctx, cancel := call()
		response, err := c.client.UnaryCall(acceptingGzip(ctx, r), &pb.SimpleRequest{
			ResponseCompressed: &pb.BoolValue{Value: compressed}, ResponseSize: 314159, Payload: zeros(271828)})
		cancel()
		expectOK(err, "UnaryCall")
		expectBody(response.GetPayload(), 314159, "response")
		expectCompressed(r, []bool{compressed})
	}
}

func (c *cases) clientStreaming() {
	ctx, cancel := call()
	defer cancel()
	stream, err := c.client.StreamingInputCall(ctx)
	expectOK(err, "StreamingInputCall")
	for _, size := range []int{27182, 8, 1828, 45904} {
		expectOK(stream.Send(&pb.StreamingInputCallRequest{Payload: zeros(size)}), "Send")
	}
	response, err := stream.CloseAndRecv()
	expectOK(err, "StreamingInputCall")
	check(response.GetAggregatedPayloadSize() == 74922, "aggregated_payload_size is %d, expected 74922",
		response.GetAggregatedPayloadSize())
}

func (c *cases) clientCompressedStreaming() {
	request := func(expect bool, size int) *pb.StreamingInputCallRequest {
		return &pb.StreamingInputCallRequest{ExpectCompressed: &pb.BoolValue{Value: expect}, Payload: zeros(size)}
	}
	send := func(requests []*pb.StreamingInputCallRequest, options ...grpc.CallOption) (
		*pb.StreamingInputCallResponse, error) {
		ctx, cancel := call()
		defer cancel()
		stream, err := c.client.StreamingInputCall(ctx, options...)
		expectOK(err, "StreamingInputCall")
		for _, r := range requests {
			if err := stream.Send(r); err != nil {
				break // the status tells why
			}
		}
		return stream.CloseAndRecv()
	}
	if c.probe {
		_, err := send([]*pb.StreamingInputCallRequest{request(true, 27182)})
		expectCode(err, codes.InvalidArgument)
	} else {
		c.skipped = append(c.skipped, "the expect_compressed probe, per --compression_probe=false")
	}
	response, err := send([]*pb.StreamingInputCallRequest{request(true, 27182), request(false, 45904)},
		grpc.UseCompressor(gzip.Name))
	expectOK(err, "StreamingInputCall")
	check(response.GetAggregatedPayloadSize() == 73086, "aggregated_payload_size is %d, expected 73086",
		response.GetAggregatedPayloadSize())
	c.skipped = append(c.skipped, "sending the second message uncompressed, as grpc-go compresses per call, "+
		"not per message")
}

func (c *cases) serverStreaming() {
	sizes := []int{31415, 9, 2653, 58979}
	ctx, cancel := call()
	defer cancel()
	stream, err := c.client.StreamingOutputCall(ctx, &pb.StreamingOutputCallRequest{ResponseParameters: params(sizes...)})
	expectOK(err, "StreamingOutputCall")
	for i := 0; ; i++ {
		response, err := stream.Recv()
		if err == io.EOF {
			check(i == len(sizes), "%d responses, expected %d", i, len(sizes))
			return
		}
		expectOK(err, "StreamingOutputCall")
		check(i < len(sizes), "more than %d responses", len(sizes))
		expectBody(response.GetPayload(), sizes[i], fmt.Sprintf("response %d", i+1))
	}
}

func (c *cases) serverCompressedStreaming() {
	r := &received{}
	ctx, cancel := call()
	defer cancel()
	request := &pb.StreamingOutputCallRequest{ResponseParameters: []*pb.ResponseParameters{
		{Size: 31415, Compressed: &pb.BoolValue{Value: true}}, {Size: 92653, Compressed: &pb.BoolValue{Value: false}}}}
	stream, err := c.client.StreamingOutputCall(acceptingGzip(ctx, r), request)
	expectOK(err, "StreamingOutputCall")
	sizes := []int{31415, 92653}
	for i := 0; ; i++ {
		response, err := stream.Recv()
		if err == io.EOF {
			check(i == len(sizes), "%d responses, expected %d", i, len(sizes))
			break
		}
		expectOK(err, "StreamingOutputCall")
		check(i < len(sizes), "more than %d responses", len(sizes))
		expectBody(response.GetPayload(), sizes[i], fmt.Sprintf("response %d", i+1))
	}
	expectCompressed(r, []bool{true, false})
}

func (c *cases) pingPong() {
	ctx, cancel := call()
	defer cancel()
	stream, err := c.client.FullDuplexCall(ctx)
	expectOK(err, "FullDuplexCall")
	for i, step := range [][2]int{{31415, 27182}, {9, 8}, {2653, 1828}, {58979, 45904}} {
		expectOK(stream.Send(&pb.StreamingOutputCallRequest{ResponseParameters: params(step[0]),
			Payload: zeros(step[1])}), "Send")
		response, err := stream.Recv()
		expectOK(err, fmt.Sprintf("receiving response %d", i+1))
		expectBody(response.GetPayload(), step[0], fmt.Sprintf("response %d", i+1))
	}
	expectOK(stream.CloseSend(), "CloseSend")
	_, err = stream.Recv()
	check(err == io.EOF, "after the half-close: %v, expected the end of the stream (OK)", err)
}

func (c *cases) emptyStream() {
	ctx, cancel := call()
	defer cancel()
	stream, err := c.client.FullDuplexCall(ctx)
	expectOK(err, "FullDuplexCall")
	expectOK(stream.CloseSend(), "CloseSend")
	_, err = stream.Recv()
	check(err == io.EOF, "got %v, expected the end of the stream (OK) with no response", err)
}

func (c *cases) cancelAfterBegin() {
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := c.client.StreamingInputCall(ctx)
	expectOK(err, "StreamingInputCall")
	cancel()
	_, err = stream.CloseAndRecv()
	expectCode(err, codes.Canceled)
}

func (c *cases) cancelAfterFirstResponse() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := c.client.FullDuplexCall(ctx)
	expectOK(err, "FullDuplexCall")
	expectOK(stream.Send(&pb.StreamingOutputCallRequest{ResponseParameters: params(31415), Payload: zeros(27182)}),
		"Send")
	response, err := stream.Recv()
	expectOK(err, "receiving the first response")
	expectBody(response.GetPayload(), 31415, "response")
	cancel()
	_, err = stream.Recv()
	expectCode(err, codes.Canceled)
}

func (c *cases) timeoutOnSleepingServer() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	stream, err := c.client.FullDuplexCall(ctx)
	if err == nil {
		// Sending may already fail (io.EOF): the deadline is that short. Recv tells the status.
		stream.Send(&pb.StreamingOutputCallRequest{Payload: zeros(27182)})
		_, err = stream.Recv()
	}
	expectCode(err, codes.DeadlineExceeded)
}

func (c *cases) customMetadata() {
	outgoing := func(ctx context.Context) context.Context {
		return metadata.AppendToOutgoingContext(ctx, initialKey, initialValue, trailingKey, trailingValue)
	}
	expectEchoed := func(header, trailer metadata.MD, which string) {
		got := header.Get(initialKey)
		check(len(got) == 1 && got[0] == initialValue, "%s: initial metadata %s is %q, expected %q", which,
			initialKey, got, initialValue)
		got = trailer.Get(trailingKey)
		check(len(got) == 1 && got[0] == trailingValue, "%s: trailing metadata %s is %q, expected %q", which,
			trailingKey, got, trailingValue)
	}
	ctx, cancel := call()
	defer cancel()
	var header, trailer metadata.MD
	response, err := c.client.UnaryCall(outgoing(ctx), &pb.SimpleRequest{ResponseSize: 314159,
		Payload: zeros(271828)}, grpc.Header(&header), grpc.Trailer(&trailer))
	expectOK(err, "UnaryCall")
	expectBody(response.GetPayload(), 314159, "UnaryCall response")
	expectEchoed(header, trailer, "UnaryCall")

	stream, err := c.client.FullDuplexCall(outgoing(ctx))
	expectOK(err, "FullDuplexCall")
	expectOK(stream.Send(&pb.StreamingOutputCallRequest{ResponseParameters: params(314159),
		Payload: zeros(271828)}), "Send")
	expectOK(stream.CloseSend(), "CloseSend")
	streamed, err := stream.Recv()
	expectOK(err, "FullDuplexCall")
	expectBody(streamed.GetPayload(), 314159, "FullDuplexCall response")
	_, err = stream.Recv()
	check(err == io.EOF, "FullDuplexCall: %v after the response, expected the end of the stream (OK)", err)
	header, err = stream.Header()
	expectOK(err, "FullDuplexCall headers")
	expectEchoed(header, stream.Trailer(), "FullDuplexCall")
}

func (c *cases) statusCodeAndMessage() {
	const message = "test status message"
	ctx, cancel := call()
	defer cancel()
	echo := &pb.EchoStatus{Code: 2, Message: message}
	_, err := c.client.UnaryCall(ctx, &pb.SimpleRequest{ResponseStatus: echo})
	expectStatus(err, codes.Unknown, message)
	stream, err := c.client.FullDuplexCall(ctx)
	expectOK(err, "FullDuplexCall")
	stream.Send(&pb.StreamingOutputCallRequest{ResponseStatus: echo})
	stream.CloseSend()
	for err == nil {
		_, err = stream.Recv()
	}
	expectStatus(err, codes.Unknown, message)
}

func (c *cases) specialStatusMessage() {
	ctx, cancel := call()
	defer cancel()
	_, err := c.client.UnaryCall(ctx, &pb.SimpleRequest{ResponseStatus: &pb.EchoStatus{Code: 2,
		Message: specialMessage}})
	expectStatus(err, codes.Unknown, specialMessage)
}

func (c *cases) unimplementedMethod() {
	ctx, cancel := call()
	defer cancel()
	_, err := c.client.UnimplementedCall(ctx, &pb.Empty{})
	expectCode(err, codes.Unimplemented)
}

func (c *cases) unimplementedService() {
	ctx, cancel := call()
	defer cancel()
	_, err := c.unimplemented.UnimplementedCall(ctx, &pb.Empty{})
	expectCode(err, codes.Unimplemented)
}
