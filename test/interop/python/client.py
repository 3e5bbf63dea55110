"""A Python gRPC client (grpcio, stubs from proto/ by grpc_tools.protoc) against a running gateway.

Run by test/interop/polyglot.spec.ts, which starts the gateways with the endpoints these checks
expect (see INTEROP_ENDPOINTS there). Prints one JSON line per check:
  {"lang": "python", "check": "chat_unary", "ok": true, "ms": 3.1}
  {"lang": "python", "check": "not_found", "ok": false, "ms": 2.0, "error": "..."}
and exits 1 if any check failed, 2 on bad arguments. Each call sends x-request-id
"python-<check>" so the spec can find the gateway's log line for it.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import struct
import sys
import time
from typing import Callable, TextIO

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen"))

import grpc  # noqa: E402
from modelgate.v1 import chat_pb2, chat_pb2_grpc, common_pb2  # noqa: E402
from modelgate.v1 import embeddings_pb2, embeddings_pb2_grpc  # noqa: E402
from modelgate.v1 import endpoint_pb2, endpoint_pb2_grpc  # noqa: E402

LANG = "python"
# The slow endpoint streams one word every SLOW_DELAY_MS (echo's stream_delay_ms), so its reply
# to SLOW_PROMPT takes SLOW_WORDS * SLOW_DELAY_MS in full: deadlines and cancels land mid-stream.
SLOW_PROMPT = "one two three four five six seven"
SLOW_WORDS = 8  # "echo:" and the seven words
SLOW_DELAY_MS = 500
DEADLINE_S = 1.5  # room for the connection and the first word on a loaded machine
CALL_TIMEOUT_S = 10
FAR_DEADLINE_S = 30 * 86_400  # 30 days: grpc-timeout "2592000S", past a Node timer's 2^31-1 ms
# What chat_example prints against the echo provider: the reply, the streamed reply and its
# usage (1 prompt + 2 completion tokens), and the NOT_FOUND message.
EXAMPLE_OUTPUT = 'echo: hi\necho: hi\n3 tokens\nnot found: unknown endpoint "no-such-endpoint"\n'


# The README's Python example ("Calling modelgate from your language"); the authenticated check
# runs it against the gateway with auth on.
# snippet:begin python
def chat_example(addr: str, api_key: str, out: TextIO = sys.stdout) -> None:
    """Ask once, stream a reply with its token usage, and handle an error status."""
    auth = [("authorization", f"Bearer {api_key}")]
    question = [common_pb2.ChatMessage(role="user", content="hi")]
    with grpc.insecure_channel(addr) as channel:
        chat = chat_pb2_grpc.ChatServiceStub(channel)

        res = chat.Chat(chat_pb2.ChatRequest(endpoint="chat", messages=question), metadata=auth, timeout=10)
        print(res.choices[0].message.content, file=out)

        req = chat_pb2.StreamChatRequest(endpoint="chat", messages=question)
        for chunk in chat.StreamChat(req, metadata=auth, timeout=10):
            for choice in chunk.choices:
                print(choice.delta.content, end="", file=out)
            if chunk.HasField("usage"):  # only the last message carries it
                print(f"\n{chunk.usage.total_tokens} tokens", file=out)

        try:
            chat.Chat(chat_pb2.ChatRequest(endpoint="no-such-endpoint", messages=question), metadata=auth, timeout=10)
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.NOT_FOUND:
                raise
            print("not found:", err.details(), file=out)
# snippet:end


class CheckFailed(Exception):
    pass


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def expect_equal(actual: object, expected: object, what: str) -> None:
    expect(actual == expected, f"{what}: expected {expected!r}, got {actual!r}")


def metadata(check: str, api_key: str | None = None) -> list[tuple[str, str]]:
    md = [("x-request-id", f"{LANG}-{check}")]
    if api_key is not None:
        md.append(("authorization", f"Bearer {api_key}"))
    return md


def user(text: str) -> list[common_pb2.ChatMessage]:
    return [common_pb2.ChatMessage(role="user", content=text)]


def echo_embedding(text: str, dimensions: int) -> list[float]:
    """The echo provider's deterministic embedding (src/providers/echo/index.ts), as float32."""
    v = [0.0] * dimensions
    for i, ch in enumerate(text):
        v[i % dimensions] += ord(ch) / 128
    norm = math.hypot(*v) or 1.0
    return [struct.unpack("f", struct.pack("f", x / norm))[0] for x in v]


def status_of(call: Callable[[], object]) -> grpc.RpcError:
    """The RpcError that `call` fails with; a check failure if it succeeds."""
    try:
        call()
    except grpc.RpcError as err:
        return err
    raise CheckFailed("expected the call to fail, it succeeded")


def expect_status(err: grpc.RpcError, code: grpc.StatusCode, details: str) -> None:
    expect_equal(err.code().name, code.name, "status code")
    expect_equal(err.details(), details, "status details")


class Checks:
    def __init__(self, channel: grpc.Channel, auth_channel: grpc.Channel, auth_addr: str, api_key: str) -> None:
        self.chat = chat_pb2_grpc.ChatServiceStub(channel)
        self.embeddings = embeddings_pb2_grpc.EmbeddingsServiceStub(channel)
        self.endpoints = endpoint_pb2_grpc.EndpointServiceStub(channel)
        self.auth_chat = chat_pb2_grpc.ChatServiceStub(auth_channel)
        self.channel = channel
        self.auth_addr = auth_addr
        self.api_key = api_key

    def chat_unary(self) -> None:
        req = chat_pb2.ChatRequest(endpoint="chat", messages=user("hello there"))
        res, call = self.chat.Chat.with_call(req, metadata=metadata("chat_unary"), timeout=CALL_TIMEOUT_S)
        expect_equal(res.model, "echo-1", "model")
        expect_equal(len(res.choices), 1, "number of choices")
        expect_equal(res.choices[0].message.role, "assistant", "role")
        expect_equal(res.choices[0].message.content, "echo: hello there", "content")
        expect_equal(res.choices[0].finish_reason, "stop", "finish_reason")
        expect(res.HasField("usage"), "usage is missing")
        usage = (res.usage.prompt_tokens, res.usage.completion_tokens, res.usage.total_tokens)
        expect_equal(usage, (2, 3, 5), "usage (prompt, completion, total)")
        headers = dict(call.initial_metadata())
        expect_equal(headers.get("x-request-id"), "python-chat_unary", "x-request-id response header")

    def stream_chat(self) -> None:
        req = chat_pb2.StreamChatRequest(endpoint="chat", messages=user("one two three"))
        chunks = list(self.chat.StreamChat(req, metadata=metadata("stream_chat"), timeout=CALL_TIMEOUT_S))
        expect(len(chunks) > 4, f"expected a message per word, got {len(chunks)} messages")
        text = "".join(c.delta.content for chunk in chunks for c in chunk.choices)
        expect_equal(text, "echo: one two three", "joined deltas")
        expect_equal(chunks[0].choices[0].delta.role, "assistant", "first delta's role")
        expect(
            any(c.finish_reason == "stop" for chunk in chunks for c in chunk.choices),
            "no delta has finish_reason stop",
        )
        with_usage = [i for i, chunk in enumerate(chunks) if chunk.HasField("usage")]
        expect_equal(with_usage, [len(chunks) - 1], "indexes of the messages that carry usage")
        last = chunks[-1].usage
        usage = (last.prompt_tokens, last.completion_tokens, last.total_tokens)
        expect_equal(usage, (3, 4, 7), "usage (prompt, completion, total)")

    def embed(self) -> None:
        req = embeddings_pb2.EmbedRequest(endpoint="embeddings", inputs=["abc", "de"])
        res = self.embeddings.Embed(req, metadata=metadata("embed"), timeout=CALL_TIMEOUT_S)
        expect_equal(res.model, "echo-embed-1", "model")
        expect_equal([d.index for d in res.data], [0, 1], "indexes")
        for data, text in zip(res.data, ["abc", "de"]):
            want = echo_embedding(text, 8)
            got = list(data.values)
            expect_equal(len(got), 8, f"dimensions of {text!r}")
            close = all(abs(a - b) <= 1e-6 for a, b in zip(got, want))
            expect(close, f"vector of {text!r}: expected {want}, got {got}")
        expect_equal(res.usage.prompt_tokens, 2, "usage.prompt_tokens")

    def list_endpoints(self) -> None:
        req = endpoint_pb2.ListEndpointsRequest()
        res = self.endpoints.ListEndpoints(req, metadata=metadata("list_endpoints"), timeout=CALL_TIMEOUT_S)
        got = [(e.name, e.endpoint_type, e.provider, e.model) for e in res.endpoints]
        want = [
            ("chat", "llm/v1/chat", "echo", "echo-1"),
            ("completions", "llm/v1/completions", "echo", "echo-1"),
            ("embeddings", "llm/v1/embeddings", "echo", "echo-embed-1"),
            ("slow", "llm/v1/chat", "echo", "echo-1"),
        ]
        expect_equal(got, want, "endpoints (name, type, provider, model)")

    def not_found(self) -> None:
        req = chat_pb2.ChatRequest(endpoint="nope", messages=user("x"))
        err = status_of(lambda: self.chat.Chat(req, metadata=metadata("not_found"), timeout=CALL_TIMEOUT_S))
        expect_status(err, grpc.StatusCode.NOT_FOUND, 'unknown endpoint "nope"')

    def invalid_argument(self) -> None:
        req = chat_pb2.ChatRequest(endpoint="chat", messages=[])
        err = status_of(lambda: self.chat.Chat(req, metadata=metadata("invalid_argument"), timeout=CALL_TIMEOUT_S))
        expect_status(err, grpc.StatusCode.INVALID_ARGUMENT, "messages: at least one message is required")

    def unauthenticated(self) -> None:
        req = chat_pb2.ChatRequest(endpoint="chat", messages=user("hi"))
        wrong = metadata("unauthenticated", "sk-wrong-key-000000000")
        err = status_of(lambda: self.auth_chat.Chat(req, metadata=wrong, timeout=CALL_TIMEOUT_S))
        expect_status(err, grpc.StatusCode.UNAUTHENTICATED, "invalid API key")
        err = status_of(lambda: self.auth_chat.Chat(req, metadata=metadata("unauthenticated"), timeout=CALL_TIMEOUT_S))
        expect_status(err, grpc.StatusCode.UNAUTHENTICATED, 'missing API key: send "Authorization: Bearer <key>"')

    def authenticated(self) -> None:
        req = chat_pb2.ChatRequest(endpoint="chat", messages=user("with a key"))
        md = metadata("authenticated", self.api_key)
        res = self.auth_chat.Chat(req, metadata=md, timeout=CALL_TIMEOUT_S)
        expect_equal(res.choices[0].message.content, "echo: with a key", "content")
        out = io.StringIO()
        chat_example(self.auth_addr, self.api_key, out)
        expect_equal(out.getvalue(), EXAMPLE_OUTPUT, "the README example's output")

    def deadline_exceeded(self) -> None:
        req = chat_pb2.StreamChatRequest(endpoint="slow", messages=user(SLOW_PROMPT))
        received = 0
        started = time.monotonic()
        stream = self.chat.StreamChat(req, metadata=metadata("deadline_exceeded"), timeout=DEADLINE_S)
        try:
            for _ in stream:
                received += 1
        except grpc.RpcError as err:
            expect_equal(err.code().name, "DEADLINE_EXCEEDED", "status code")
        else:
            raise CheckFailed(f"the stream ended normally after {received} messages despite a {DEADLINE_S}s deadline")
        elapsed_ms = (time.monotonic() - started) * 1000
        expect(1 <= received < SLOW_WORDS, f"expected part of the stream before the deadline, got {received} messages")
        full_ms = SLOW_WORDS * SLOW_DELAY_MS
        expect(elapsed_ms < full_ms * 0.75, f"the call took {elapsed_ms:.0f}ms; the full stream takes {full_ms}ms")

    def cancelled(self) -> None:
        req = chat_pb2.StreamChatRequest(endpoint="slow", messages=user(SLOW_PROMPT))
        started = time.monotonic()
        stream = self.chat.StreamChat(req, metadata=metadata("cancelled"), timeout=CALL_TIMEOUT_S)
        first = next(stream)
        expect_equal(first.choices[0].delta.content, "echo:", "first delta")
        expect(stream.cancel(), "cancel() found the call already finished")
        err = status_of(lambda: next(stream))
        expect_equal(err.code().name, "CANCELLED", "status code after cancel")
        elapsed_ms = (time.monotonic() - started) * 1000
        full_ms = SLOW_WORDS * SLOW_DELAY_MS
        expect(elapsed_ms < full_ms * 0.75, f"the call took {elapsed_ms:.0f}ms; the full stream takes {full_ms}ms")

    def far_deadline(self) -> None:
        # A 30-day deadline, past what a Node timer holds (2^31-1 ms): the stream runs to its end.
        req = chat_pb2.StreamChatRequest(endpoint="slow", messages=user("one"))
        chunks = list(self.chat.StreamChat(req, metadata=metadata("far_deadline"), timeout=FAR_DEADLINE_S))
        expect_equal("".join(c.delta.content for chunk in chunks for c in chunk.choices), "echo: one", "joined deltas")

    def compression(self) -> None:
        # Requests (and answers over 1 KB) compressed with gzip and with gRPC core's deflate.
        text = "hello " * 200
        for algorithm in (grpc.Compression.Gzip, grpc.Compression.Deflate):
            req = chat_pb2.ChatRequest(endpoint="chat", messages=user(text))
            res = self.chat.Chat(req, metadata=metadata("compression"), timeout=CALL_TIMEOUT_S, compression=algorithm)
            expect_equal(res.choices[0].message.content, "echo: " + text, f"{algorithm.name} unary reply")
            sreq = chat_pb2.StreamChatRequest(endpoint="chat", messages=user(text))
            chunks = self.chat.StreamChat(sreq, metadata=metadata("compression"), timeout=CALL_TIMEOUT_S, compression=algorithm)
            streamed = "".join(c.delta.content for chunk in chunks for c in chunk.choices)
            expect_equal(streamed, "echo: " + text.strip(), f"{algorithm.name} streamed reply")

    def unimplemented(self) -> None:
        # A method the gateway does not serve: its trailers-only answer, as grpcio reads it.
        nope = self.channel.unary_unary("/modelgate.v1.ChatService/Nope")
        err = status_of(lambda: nope(b"", metadata=metadata("unimplemented"), timeout=CALL_TIMEOUT_S))
        expect_status(err, grpc.StatusCode.UNIMPLEMENTED, "unknown method /modelgate.v1.ChatService/Nope")


CHECK_NAMES = [
    "chat_unary",
    "stream_chat",
    "embed",
    "list_endpoints",
    "not_found",
    "invalid_argument",
    "unauthenticated",
    "authenticated",
    "deadline_exceeded",
    "cancelled",
    "far_deadline",
    "unimplemented",
    "compression",
]


def main() -> int:
    parser = argparse.ArgumentParser(description="modelgate gRPC interop checks (Python, grpcio)")
    parser.add_argument("--addr", required=True, help="host:port of a gateway with the interop endpoints")
    parser.add_argument("--auth-addr", required=True, help="host:port of a gateway with auth enabled")
    parser.add_argument("--api-key", required=True, help="a valid API key for --auth-addr")
    args = parser.parse_args()

    failed = 0
    with grpc.insecure_channel(args.addr) as channel, grpc.insecure_channel(args.auth_addr) as auth_channel:
        checks = Checks(channel, auth_channel, args.auth_addr, args.api_key)
        for name in CHECK_NAMES:
            started = time.monotonic()
            result: dict[str, object] = {"lang": LANG, "check": name, "ok": True}
            try:
                getattr(checks, name)()
            except CheckFailed as err:
                result.update(ok=False, error=str(err))
            except grpc.RpcError as err:
                result.update(ok=False, error=f"unexpected RPC error {err.code().name}: {err.details()}")
            except Exception as err:  # a bug in the check itself: report it as this check's failure
                result.update(ok=False, error=f"{type(err).__name__}: {err}")
            result["ms"] = round((time.monotonic() - started) * 1000, 1)
            failed += 0 if result["ok"] else 1
            print(json.dumps(result), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
