package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"reflect"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	v1 "modelgate/interop/gen/modelgate/v1"
)

// The slow endpoint streams one word every slowDelay (echo's stream_delay_ms), so its reply to
// slowPrompt takes slowWords*slowDelay in full: deadlines and cancels land mid-stream.
const (
	slowPrompt  = "one two three four five six seven"
	slowWords   = 8 // "echo:" and the seven words
	slowDelay   = 500 * time.Millisecond
	deadline    = 1500 * time.Millisecond // room for the connection and the first word on a loaded machine
	callTimeout = 10 * time.Second
	wrongAPIKey = "sk-wrong-key-000000000"
)

// checkFailure is a failed expectation, as opposed to an RPC error the check did not expect.
type checkFailure struct{ msg string }

func (f *checkFailure) Error() string { return f.msg }

func failf(format string, args ...any) error {
	return &checkFailure{fmt.Sprintf(format, args...)}
}

func expectEqual(actual, expected any, what string) error {
	if !reflect.DeepEqual(actual, expected) {
		return failf("%s: expected %#v, got %#v", what, expected, actual)
	}
	return nil
}

// expectStatus checks that err is a gRPC status with the given code and exact message.
func expectStatus(err error, code codes.Code, message string) error {
	if err == nil {
		return failf("expected the call to fail with %s, it succeeded", code)
	}
	s, ok := status.FromError(err)
	if !ok {
		return failf("expected a gRPC status, got %v", err)
	}
	if e := expectEqual(s.Code().String(), code.String(), "status code"); e != nil {
		return e
	}
	return expectEqual(s.Message(), message, "status message")
}

type check struct {
	name string
	run  func() error
}

type checks struct {
	conn      *grpc.ClientConn
	chat      v1.ChatServiceClient
	embed     v1.EmbeddingsServiceClient
	endpoints v1.EndpointServiceClient
	authChat  v1.ChatServiceClient
	authAddr  string
	apiKey    string
}

func newChecks(conn, authConn *grpc.ClientConn, authAddr, apiKey string) *checks {
	return &checks{
		conn:      conn,
		chat:      v1.NewChatServiceClient(conn),
		embed:     v1.NewEmbeddingsServiceClient(conn),
		endpoints: v1.NewEndpointServiceClient(conn),
		authChat:  v1.NewChatServiceClient(authConn),
		authAddr:  authAddr,
		apiKey:    apiKey,
	}
}

func (c *checks) all() []check {
	return []check{
		{"chat_unary", c.chatUnary},
		{"stream_chat", c.streamChat},
		{"embed", c.embedCheck},
		{"list_endpoints", c.listEndpoints},
		{"not_found", c.notFound},
		{"invalid_argument", c.invalidArgument},
		{"unauthenticated", c.unauthenticated},
		{"authenticated", c.authenticated},
		{"deadline_exceeded", c.deadlineExceeded},
		{"cancelled", c.cancelled},
		{"far_deadline", c.farDeadline},
		{"unimplemented", c.unimplemented},
	}
}

// callContext carries the x-request-id (and an API key, if given) of one check's calls.
func callContext(parent context.Context, check string, apiKey string) context.Context {
	pairs := []string{"x-request-id", "go-" + check}
	if apiKey != "" {
		pairs = append(pairs, "authorization", "Bearer "+apiKey)
	}
	return metadata.NewOutgoingContext(parent, metadata.Pairs(pairs...))
}

func withTimeout(check string, apiKey string) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	return callContext(ctx, check, apiKey), cancel
}

func user(text string) []*v1.ChatMessage {
	return []*v1.ChatMessage{{Role: "user", Content: text}}
}

func usageOf(u *v1.Usage) [3]uint32 {
	return [3]uint32{u.GetPromptTokens(), u.GetCompletionTokens(), u.GetTotalTokens()}
}

func (c *checks) chatUnary() error {
	ctx, cancel := withTimeout("chat_unary", "")
	defer cancel()
	var header metadata.MD
	res, err := c.chat.Chat(ctx, &v1.ChatRequest{Endpoint: "chat", Messages: user("hello there")}, grpc.Header(&header))
	if err != nil {
		return err
	}
	if len(res.GetChoices()) != 1 {
		return failf("number of choices: expected 1, got %d", len(res.GetChoices()))
	}
	choice := res.GetChoices()[0]
	for _, e := range []error{
		expectEqual(res.GetModel(), "echo-1", "model"),
		expectEqual(choice.GetMessage().GetRole(), "assistant", "role"),
		expectEqual(choice.GetMessage().GetContent(), "echo: hello there", "content"),
		expectEqual(choice.GetFinishReason(), "stop", "finish_reason"),
		expectEqual(res.GetUsage() != nil, true, "usage present"),
		expectEqual(usageOf(res.GetUsage()), [3]uint32{2, 3, 5}, "usage (prompt, completion, total)"),
		expectEqual(header.Get("x-request-id"), []string{"go-chat_unary"}, "x-request-id response header"),
	} {
		if e != nil {
			return e
		}
	}
	return nil
}

func (c *checks) streamChat() error {
	ctx, cancel := withTimeout("stream_chat", "")
	defer cancel()
	chunks, err := receiveAll(c.chat.StreamChat(ctx, &v1.StreamChatRequest{Endpoint: "chat", Messages: user("one two three")}))
	if err != nil {
		return err
	}
	if len(chunks) <= 4 {
		return failf("expected a message per word, got %d messages", len(chunks))
	}
	text, stopped := "", false
	var withUsage []int
	for i, chunk := range chunks {
		for _, choice := range chunk.GetChoices() {
			text += choice.GetDelta().GetContent()
			stopped = stopped || choice.GetFinishReason() == "stop"
		}
		if chunk.GetUsage() != nil {
			withUsage = append(withUsage, i)
		}
	}
	first := chunks[0].GetChoices()
	if len(first) == 0 {
		return failf("the first message has no delta")
	}
	for _, e := range []error{
		expectEqual(text, "echo: one two three", "joined deltas"),
		expectEqual(first[0].GetDelta().GetRole(), "assistant", "first delta's role"),
		expectEqual(stopped, true, "some delta has finish_reason stop"),
		expectEqual(withUsage, []int{len(chunks) - 1}, "indexes of the messages that carry usage"),
		expectEqual(usageOf(chunks[len(chunks)-1].GetUsage()), [3]uint32{3, 4, 7}, "usage (prompt, completion, total)"),
	} {
		if e != nil {
			return e
		}
	}
	return nil
}

// echoEmbedding is the echo provider's deterministic embedding (src/providers/echo/index.ts).
// The provider sums UTF-16 code units; runes are the same for the ASCII inputs used here.
func echoEmbedding(text string, dimensions int) []float32 {
	v := make([]float64, dimensions)
	for i, ch := range []rune(text) {
		v[i%dimensions] += float64(ch) / 128
	}
	norm := 0.0
	for _, x := range v {
		norm += x * x
	}
	norm = math.Sqrt(norm)
	if norm == 0 {
		norm = 1
	}
	out := make([]float32, dimensions)
	for i, x := range v {
		out[i] = float32(x / norm)
	}
	return out
}

func (c *checks) embedCheck() error {
	ctx, cancel := withTimeout("embed", "")
	defer cancel()
	inputs := []string{"abc", "de"}
	res, err := c.embed.Embed(ctx, &v1.EmbedRequest{Endpoint: "embeddings", Inputs: inputs})
	if err != nil {
		return err
	}
	if e := expectEqual(res.GetModel(), "echo-embed-1", "model"); e != nil {
		return e
	}
	var indexes []uint32
	for _, d := range res.GetData() {
		indexes = append(indexes, d.GetIndex())
	}
	if e := expectEqual(indexes, []uint32{0, 1}, "indexes"); e != nil {
		return e
	}
	for i, d := range res.GetData() {
		want, got := echoEmbedding(inputs[i], 8), d.GetValues()
		if len(got) != len(want) {
			return failf("dimensions of %q: expected %d, got %d", inputs[i], len(want), len(got))
		}
		for j := range want {
			if math.Abs(float64(got[j]-want[j])) > 1e-6 {
				return failf("vector of %q: expected %v, got %v", inputs[i], want, got)
			}
		}
	}
	return expectEqual(res.GetUsage().GetPromptTokens(), uint32(2), "usage.prompt_tokens")
}

func (c *checks) listEndpoints() error {
	ctx, cancel := withTimeout("list_endpoints", "")
	defer cancel()
	res, err := c.endpoints.ListEndpoints(ctx, &v1.ListEndpointsRequest{})
	if err != nil {
		return err
	}
	var got [][4]string
	for _, e := range res.GetEndpoints() {
		got = append(got, [4]string{e.GetName(), e.GetEndpointType(), e.GetProvider(), e.GetModel()})
	}
	want := [][4]string{
		{"chat", "llm/v1/chat", "echo", "echo-1"},
		{"completions", "llm/v1/completions", "echo", "echo-1"},
		{"embeddings", "llm/v1/embeddings", "echo", "echo-embed-1"},
		{"slow", "llm/v1/chat", "echo", "echo-1"},
	}
	return expectEqual(got, want, "endpoints (name, type, provider, model)")
}

func (c *checks) notFound() error {
	ctx, cancel := withTimeout("not_found", "")
	defer cancel()
	_, err := c.chat.Chat(ctx, &v1.ChatRequest{Endpoint: "nope", Messages: user("x")})
	return expectStatus(err, codes.NotFound, `unknown endpoint "nope"`)
}

// farDeadline streams with a 30-day deadline, which grpc-go sends as grpc-timeout "2592000S", past
// what a Node timer holds (2^31-1 ms): the stream must run to its end, not fail at once.
func (c *checks) farDeadline() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*24*time.Hour)
	defer cancel()
	chunks, err := receiveAll(c.chat.StreamChat(callContext(ctx, "far_deadline", ""), &v1.StreamChatRequest{Endpoint: "slow", Messages: user("one")}))
	if err != nil {
		return err
	}
	text := ""
	for _, chunk := range chunks {
		for _, choice := range chunk.GetChoices() {
			text += choice.GetDelta().GetContent()
		}
	}
	return expectEqual(text, "echo: one", "joined deltas")
}

// receiveAll reads a server stream to its end (the stream and error StreamChat returned).
func receiveAll(stream v1.ChatService_StreamChatClient, err error) ([]*v1.StreamChatResponse, error) {
	if err != nil {
		return nil, err
	}
	var chunks []*v1.StreamChatResponse
	for {
		chunk, err := stream.Recv()
		if err == io.EOF {
			return chunks, nil
		}
		if err != nil {
			return chunks, err
		}
		chunks = append(chunks, chunk)
	}
}

// unimplemented calls a method the gateway does not serve: its trailers-only answer, as grpc-go reads it.
func (c *checks) unimplemented() error {
	ctx, cancel := withTimeout("unimplemented", "")
	defer cancel()
	err := c.conn.Invoke(ctx, "/modelgate.v1.ChatService/Nope", &v1.ChatRequest{}, &v1.ChatResponse{})
	return expectStatus(err, codes.Unimplemented, "unknown method /modelgate.v1.ChatService/Nope")
}

func (c *checks) invalidArgument() error {
	ctx, cancel := withTimeout("invalid_argument", "")
	defer cancel()
	_, err := c.chat.Chat(ctx, &v1.ChatRequest{Endpoint: "chat"})
	return expectStatus(err, codes.InvalidArgument, "messages: at least one message is required")
}

func (c *checks) unauthenticated() error {
	req := &v1.ChatRequest{Endpoint: "chat", Messages: user("hi")}
	ctx, cancel := withTimeout("unauthenticated", wrongAPIKey)
	defer cancel()
	_, err := c.authChat.Chat(ctx, req)
	if e := expectStatus(err, codes.Unauthenticated, "invalid API key"); e != nil {
		return e
	}
	ctx, cancel2 := withTimeout("unauthenticated", "")
	defer cancel2()
	_, err = c.authChat.Chat(ctx, req)
	return expectStatus(err, codes.Unauthenticated, `missing API key: send "Authorization: Bearer <key>"`)
}

func (c *checks) authenticated() error {
	ctx, cancel := withTimeout("authenticated", c.apiKey)
	defer cancel()
	res, err := c.authChat.Chat(ctx, &v1.ChatRequest{Endpoint: "chat", Messages: user("with a key")})
	if err != nil {
		return err
	}
	if len(res.GetChoices()) == 0 {
		return failf("no choices")
	}
	if err := expectEqual(res.GetChoices()[0].GetMessage().GetContent(), "echo: with a key", "content"); err != nil {
		return err
	}
	var out strings.Builder
	if err := chatExample(c.authAddr, c.apiKey, &out); err != nil {
		return err
	}
	return expectEqual(out.String(), exampleOutput, "the README example's output")
}

// What chatExample prints against the echo provider: the reply, the streamed reply and its usage
// (1 prompt + 2 completion tokens), and the NOT_FOUND message.
const exampleOutput = "echo: hi\necho: hi\n3 tokens\nnot found: unknown endpoint \"no-such-endpoint\"\n"

// tookTooLong fails when a call cut short by a deadline or a cancel ran most of the full stream.
func tookTooLong(elapsed time.Duration) error {
	full := slowWords * slowDelay
	if elapsed >= full*3/4 {
		return failf("the call took %dms; the full stream takes %dms", elapsed.Milliseconds(), full.Milliseconds())
	}
	return nil
}

func (c *checks) deadlineExceeded() error {
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	started := time.Now()
	req := &v1.StreamChatRequest{Endpoint: "slow", Messages: user(slowPrompt)}
	stream, err := c.chat.StreamChat(callContext(ctx, "deadline_exceeded", ""), req)
	if err != nil {
		return err
	}
	received := 0
	for {
		_, err = stream.Recv()
		if err != nil {
			break
		}
		received++
	}
	if err == io.EOF {
		return failf("the stream ended normally after %d messages despite a %v deadline", received, deadline)
	}
	if e := expectEqual(status.Code(err).String(), codes.DeadlineExceeded.String(), "status code"); e != nil {
		return e
	}
	if received < 1 || received >= slowWords {
		return failf("expected part of the stream before the deadline, got %d messages", received)
	}
	return tookTooLong(time.Since(started))
}

func (c *checks) cancelled() error {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	ctx, cancelCall := context.WithCancel(callContext(ctx, "cancelled", ""))
	defer cancelCall()
	started := time.Now()
	req := &v1.StreamChatRequest{Endpoint: "slow", Messages: user(slowPrompt)}
	stream, err := c.chat.StreamChat(ctx, req)
	if err != nil {
		return err
	}
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	if len(first.GetChoices()) == 0 {
		return failf("the first message has no delta")
	}
	if e := expectEqual(first.GetChoices()[0].GetDelta().GetContent(), "echo:", "first delta"); e != nil {
		return e
	}
	cancelCall()
	_, err = stream.Recv()
	if e := expectEqual(status.Code(err).String(), codes.Canceled.String(), "status code after cancel"); e != nil {
		return e
	}
	return tookTooLong(time.Since(started))
}
