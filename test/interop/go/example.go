package main

// The README's Go example ("Calling modelgate from your language"); the authenticated check runs
// it against the gateway with auth on.

// snippet:begin go
import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	v1 "modelgate/interop/gen/modelgate/v1"
)

// chatExample asks once, streams a reply with its token usage, and handles an error status.
func chatExample(addr, apiKey string, out io.Writer) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	chat := v1.NewChatServiceClient(conn)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+apiKey)
	question := []*v1.ChatMessage{{Role: "user", Content: "hi"}}

	res, err := chat.Chat(ctx, &v1.ChatRequest{Endpoint: "chat", Messages: question})
	if err != nil {
		return err
	}
	fmt.Fprintln(out, res.GetChoices()[0].GetMessage().GetContent())

	stream, err := chat.StreamChat(ctx, &v1.StreamChatRequest{Endpoint: "chat", Messages: question})
	if err != nil {
		return err
	}
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		for _, choice := range chunk.GetChoices() {
			fmt.Fprint(out, choice.GetDelta().GetContent())
		}
		if usage := chunk.GetUsage(); usage != nil { // only the last message carries it
			fmt.Fprintf(out, "\n%d tokens\n", usage.GetTotalTokens())
		}
	}

	_, err = chat.Chat(ctx, &v1.ChatRequest{Endpoint: "no-such-endpoint", Messages: question})
	if status.Code(err) != codes.NotFound {
		return fmt.Errorf("expected NOT_FOUND, got %v", err)
	}
	fmt.Fprintln(out, "not found:", status.Convert(err).Message())
	return nil
}

// snippet:end
