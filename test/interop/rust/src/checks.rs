//! The interop checks, in the order and with the names of ../go/checks.go.

use std::fmt;
use std::time::{Duration, Instant};

use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use crate::pb::chat_service_client::ChatServiceClient;
use crate::pb::embeddings_service_client::EmbeddingsServiceClient;
use crate::pb::endpoint_service_client::EndpointServiceClient;
use crate::pb::{ChatMessage, ChatRequest, ChatResponse, EmbedRequest, ListEndpointsRequest, StreamChatRequest, StreamChatResponse, Usage};

pub const NAMES: [&str; 13] = [
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
    "health",
    "unimplemented",
];

// The slow endpoint streams one word every SLOW_DELAY (echo's stream_delay_ms), so its reply to
// SLOW_PROMPT takes SLOW_WORDS * SLOW_DELAY in full: deadlines and cancels land mid-stream.
const SLOW_PROMPT: &str = "one two three four five six seven";
const SLOW_WORDS: u32 = 8; // "echo:" and the seven words
const SLOW_DELAY: Duration = Duration::from_millis(500);
const DEADLINE: Duration = Duration::from_millis(1500); // room for the connection and the first word on a loaded machine
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
const FAR_DEADLINE: Duration = Duration::from_secs(30 * 86_400); // grpc-timeout "2592000S": past a Node timer's 2^31-1 ms
const WRONG_API_KEY: &str = "sk-wrong-key-000000000";
// What the README example prints against the echo provider: the reply, the streamed reply and
// its usage (1 prompt + 2 completion tokens), and the NOT_FOUND message.
const EXAMPLE_OUTPUT: &str = "echo: hi\necho: hi\n3 tokens\nnot found: unknown endpoint \"no-such-endpoint\"\n";

/// Why a check failed: an expectation, or an RPC error the check did not expect.
pub enum CheckError {
    Failed(String),
    Rpc(Status),
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckError::Failed(msg) => f.write_str(msg),
            CheckError::Rpc(s) => write!(f, "unexpected RPC error {:?}: {}", s.code(), s.message()),
        }
    }
}

impl From<Status> for CheckError {
    fn from(s: Status) -> Self {
        CheckError::Rpc(s)
    }
}

type CheckResult = Result<(), CheckError>;

fn fail<T>(msg: String) -> Result<T, CheckError> {
    Err(CheckError::Failed(msg))
}

fn expect_equal<T: PartialEq + fmt::Debug>(actual: T, expected: T, what: &str) -> CheckResult {
    if actual != expected {
        return fail(format!("{what}: expected {expected:?}, got {actual:?}"));
    }
    Ok(())
}

/// The call must have failed with `code` and exactly `message`.
fn expect_status<T>(result: Result<T, Status>, code: Code, message: &str) -> CheckResult {
    match result {
        Ok(_) => fail(format!("expected the call to fail with {code:?}, it succeeded")),
        Err(s) => {
            expect_equal(s.code(), code, "status code")?;
            expect_equal(s.message(), message, "status message")
        }
    }
}

/// A request carrying one check's x-request-id (and an API key, if given) and a grpc-timeout.
fn request<T>(message: T, check: &str, api_key: Option<&str>, timeout: Duration) -> Request<T> {
    let mut req = Request::new(message);
    req.metadata_mut().insert("x-request-id", MetadataValue::try_from(format!("rust-{check}")).unwrap());
    if let Some(key) = api_key {
        req.metadata_mut().insert("authorization", MetadataValue::try_from(format!("Bearer {key}")).unwrap());
    }
    req.set_timeout(timeout); // sent as grpc-timeout: the gateway ends the call when it passes
    req
}

fn user(text: &str) -> Vec<ChatMessage> {
    vec![ChatMessage { role: "user".into(), content: text.into(), ..Default::default() }]
}

fn usage_of(u: &Option<Usage>) -> Option<(u32, u32, u32)> {
    u.as_ref().map(|u| (u.prompt_tokens, u.completion_tokens, u.total_tokens))
}

/// The echo provider's deterministic embedding (src/providers/echo/index.ts): the sum of UTF-16
/// code units over 128 per dimension, normalised.
fn echo_embedding(text: &str, dimensions: usize) -> Vec<f32> {
    let mut v = vec![0f64; dimensions];
    for (i, unit) in text.encode_utf16().enumerate() {
        v[i % dimensions] += f64::from(unit) / 128.0;
    }
    let mut norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm == 0.0 {
        norm = 1.0;
    }
    v.iter().map(|x| (x / norm) as f32).collect()
}

/// Fails when a call cut short by a deadline or a cancel ran most of the full stream.
fn took_too_long(started: Instant) -> CheckResult {
    let full = SLOW_DELAY * SLOW_WORDS;
    let elapsed = started.elapsed();
    if elapsed >= full * 3 / 4 {
        return fail(format!("the call took {}ms; the full stream takes {}ms", elapsed.as_millis(), full.as_millis()));
    }
    Ok(())
}

pub struct Checks {
    channel: Channel,
    auth_channel: Channel,
    auth_addr: String,
    api_key: String,
}

impl Checks {
    pub fn new(channel: Channel, auth_channel: Channel, auth_addr: String, api_key: String) -> Self {
        Checks { channel, auth_channel, auth_addr, api_key }
    }

    pub async fn run(&self, name: &str) -> CheckResult {
        match name {
            "chat_unary" => self.chat_unary().await,
            "stream_chat" => self.stream_chat().await,
            "embed" => self.embed().await,
            "list_endpoints" => self.list_endpoints().await,
            "not_found" => self.not_found().await,
            "invalid_argument" => self.invalid_argument().await,
            "unauthenticated" => self.unauthenticated().await,
            "authenticated" => self.authenticated().await,
            "deadline_exceeded" => self.deadline_exceeded().await,
            "cancelled" => self.cancelled().await,
            "far_deadline" => self.far_deadline().await,
            "health" => self.health().await,
            "unimplemented" => self.unimplemented().await,
            other => fail(format!("no such check {other:?}")),
        }
    }

    async fn chat_unary(&self) -> CheckResult {
        let channel = self.channel.clone();
        let mut chat = ChatServiceClient::new(channel);
        let req = ChatRequest { endpoint: "chat".into(), messages: user("hello there"), ..Default::default() };
        let res = chat.chat(request(req, "chat_unary", None, CALL_TIMEOUT)).await?;
        let request_id = res.metadata().get("x-request-id").and_then(|v| v.to_str().ok()).map(String::from);
        let res = res.into_inner();
        if res.choices.len() != 1 {
            return fail(format!("number of choices: expected 1, got {}", res.choices.len()));
        }
        let choice = &res.choices[0];
        let message = choice.message.clone().unwrap_or_default();
        expect_equal(res.model.as_str(), "echo-1", "model")?;
        expect_equal(message.role.as_str(), "assistant", "role")?;
        expect_equal(message.content.as_str(), "echo: hello there", "content")?;
        expect_equal(choice.finish_reason.as_str(), "stop", "finish_reason")?;
        expect_equal(usage_of(&res.usage), Some((2, 3, 5)), "usage (prompt, completion, total)")?;
        expect_equal(request_id.as_deref(), Some("rust-chat_unary"), "x-request-id response header")
    }

    async fn stream_chat(&self) -> CheckResult {
        let mut chat = ChatServiceClient::new(self.channel.clone());
        let mut chunks: Vec<StreamChatResponse> = Vec::new();
        let req = StreamChatRequest { endpoint: "chat".into(), messages: user("one two three"), ..Default::default() };
        let mut stream = chat.stream_chat(request(req, "stream_chat", None, CALL_TIMEOUT)).await?.into_inner();
        let mut text = String::new();
        while let Some(chunk) = stream.message().await? {
            for choice in &chunk.choices {
                text += &choice.delta.as_ref().map(|d| d.content.clone()).unwrap_or_default();
            }
            chunks.push(chunk); // the last message carries the usage
        }
        if chunks.len() <= 4 {
            return fail(format!("expected a message per word, got {} messages", chunks.len()));
        }
        let stopped = chunks.iter().flat_map(|c| &c.choices).any(|c| c.finish_reason == "stop");
        let with_usage: Vec<usize> = chunks.iter().enumerate().filter(|(_, c)| c.usage.is_some()).map(|(i, _)| i).collect();
        let Some(first) = chunks[0].choices.first() else {
            return fail("the first message has no delta".into());
        };
        expect_equal(text.as_str(), "echo: one two three", "joined deltas")?;
        expect_equal(first.delta.as_ref().map(|d| d.role.as_str()), Some("assistant"), "first delta's role")?;
        expect_equal(stopped, true, "some delta has finish_reason stop")?;
        expect_equal(with_usage, vec![chunks.len() - 1], "indexes of the messages that carry usage")?;
        expect_equal(usage_of(&chunks[chunks.len() - 1].usage), Some((3, 4, 7)), "usage (prompt, completion, total)")
    }

    async fn embed(&self) -> CheckResult {
        let inputs = vec!["abc".to_string(), "de".to_string()];
        let req = EmbedRequest { endpoint: "embeddings".into(), inputs: inputs.clone(), ..Default::default() };
        let res = EmbeddingsServiceClient::new(self.channel.clone())
            .embed(request(req, "embed", None, CALL_TIMEOUT))
            .await?
            .into_inner();
        expect_equal(res.model.as_str(), "echo-embed-1", "model")?;
        expect_equal(res.data.iter().map(|d| d.index).collect::<Vec<_>>(), vec![0, 1], "indexes")?;
        for (i, d) in res.data.iter().enumerate() {
            let want = echo_embedding(&inputs[i], 8);
            if d.values.len() != want.len() {
                return fail(format!("dimensions of {:?}: expected {}, got {}", inputs[i], want.len(), d.values.len()));
            }
            if want.iter().zip(&d.values).any(|(w, g)| (w - g).abs() > 1e-6) {
                return fail(format!("vector of {:?}: expected {want:?}, got {:?}", inputs[i], d.values));
            }
        }
        expect_equal(res.usage.map(|u| u.prompt_tokens), Some(2), "usage.prompt_tokens")
    }

    async fn list_endpoints(&self) -> CheckResult {
        let res = EndpointServiceClient::new(self.channel.clone())
            .list_endpoints(request(ListEndpointsRequest {}, "list_endpoints", None, CALL_TIMEOUT))
            .await?
            .into_inner();
        let got: Vec<[&str; 4]> = res
            .endpoints
            .iter()
            .map(|e| [e.name.as_str(), e.endpoint_type.as_str(), e.provider.as_str(), e.model.as_str()])
            .collect();
        let want = vec![
            ["chat", "llm/v1/chat", "echo", "echo-1"],
            ["completions", "llm/v1/completions", "echo", "echo-1"],
            ["embeddings", "llm/v1/embeddings", "echo", "echo-embed-1"],
            ["slow", "llm/v1/chat", "echo", "echo-1"],
        ];
        expect_equal(got, want, "endpoints (name, type, provider, model)")
    }

    async fn not_found(&self) -> CheckResult {
        let mut chat = ChatServiceClient::new(self.channel.clone());
        let req = ChatRequest { endpoint: "nope".into(), messages: user("x"), ..Default::default() };
        match chat.chat(request(req, "not_found", None, CALL_TIMEOUT)).await {
            Err(status) if status.code() == Code::NotFound => {
                expect_equal(status.message(), "unknown endpoint \"nope\"", "status message")
            }
            other => expect_status(other, Code::NotFound, "unknown endpoint \"nope\""),
        }
    }

    async fn invalid_argument(&self) -> CheckResult {
        let req = ChatRequest { endpoint: "chat".into(), ..Default::default() };
        let result = ChatServiceClient::new(self.channel.clone())
            .chat(request(req, "invalid_argument", None, CALL_TIMEOUT))
            .await;
        expect_status(result, Code::InvalidArgument, "messages: at least one message is required")
    }

    async fn unauthenticated(&self) -> CheckResult {
        let req = ChatRequest { endpoint: "chat".into(), messages: user("hi"), ..Default::default() };
        let mut chat = ChatServiceClient::new(self.auth_channel.clone());
        let result = chat.chat(request(req.clone(), "unauthenticated", Some(WRONG_API_KEY), CALL_TIMEOUT)).await;
        expect_status(result, Code::Unauthenticated, "invalid API key")?;
        let result = chat.chat(request(req, "unauthenticated", None, CALL_TIMEOUT)).await;
        expect_status(result, Code::Unauthenticated, "missing API key: send \"Authorization: Bearer <key>\"")
    }

    async fn authenticated(&self) -> CheckResult {
        let req = ChatRequest { endpoint: "chat".into(), messages: user("with a key"), ..Default::default() };
        let res = ChatServiceClient::new(self.auth_channel.clone())
            .chat(request(req, "authenticated", Some(&self.api_key), CALL_TIMEOUT))
            .await?
            .into_inner();
        let Some(choice) = res.choices.first() else {
            return fail("no choices".into());
        };
        expect_equal(choice.message.as_ref().map(|m| m.content.as_str()), Some("echo: with a key"), "content")?;
        let mut out = String::new();
        if let Err(e) = crate::example::chat_example(&self.auth_addr, &self.api_key, &mut out).await {
            return fail(format!("the README example failed: {e}"));
        }
        expect_equal(out.as_str(), EXAMPLE_OUTPUT, "the README example's output")
    }

    async fn deadline_exceeded(&self) -> CheckResult {
        let started = Instant::now();
        let req = StreamChatRequest { endpoint: "slow".into(), messages: user(SLOW_PROMPT), ..Default::default() };
        let mut chat = ChatServiceClient::new(self.channel.clone());
        // tonic's own timeout covers the response headers only; the gateway ends the stream when
        // grpc-timeout passes. The outer timeout only bounds a gateway that never does.
        let outcome = tokio::time::timeout(DEADLINE + CALL_TIMEOUT, async {
            let mut stream = chat.stream_chat(request(req, "deadline_exceeded", None, DEADLINE)).await?.into_inner();
            let mut received = 0u32;
            loop {
                match stream.message().await {
                    Ok(Some(_)) => received += 1,
                    Ok(None) => return Ok((received, None)),
                    Err(status) => return Ok((received, Some(status))),
                }
            }
        })
        .await;
        let (received, status) = match outcome {
            Err(_) => return fail(format!("no end of the stream {:?} after its {DEADLINE:?} deadline", CALL_TIMEOUT)),
            Ok(Err(status)) => return Err(CheckError::Rpc(status)),
            Ok(Ok(r)) => r,
        };
        let Some(status) = status else {
            return fail(format!("the stream ended normally after {received} messages despite a {DEADLINE:?} deadline"));
        };
        expect_equal(status.code(), Code::DeadlineExceeded, "status code")?;
        if received < 1 || received >= SLOW_WORDS {
            return fail(format!("expected part of the stream before the deadline, got {received} messages"));
        }
        took_too_long(started)
    }

    async fn cancelled(&self) -> CheckResult {
        let started = Instant::now();
        let mut chat = ChatServiceClient::new(self.channel.clone());
        let req = StreamChatRequest { endpoint: "slow".into(), messages: user(SLOW_PROMPT), ..Default::default() };
        let mut stream = chat.stream_chat(request(req, "cancelled", None, CALL_TIMEOUT)).await?.into_inner();
        let first = stream.message().await?;
        drop(stream); // sends RST_STREAM(CANCEL): the gateway aborts the upstream call
        let Some(first) = first else {
            return fail("the stream ended before its first message".into());
        };
        let Some(delta) = first.choices.first().and_then(|c| c.delta.as_ref()) else {
            return fail("the first message has no delta".into());
        };
        expect_equal(delta.content.as_str(), "echo:", "first delta")?;
        took_too_long(started)
    }

    async fn health(&self) -> CheckResult {
        let channel = self.channel.clone();
        let mut health = HealthClient::new(channel);
        let check = |service: &str| Request::new(HealthCheckRequest { service: service.into() });
        let whole = health.check(check("")).await?.into_inner();
        expect_equal(whole.status(), ServingStatus::Serving, "health of the whole server")?;
        let chat = health.check(check("modelgate.v1.ChatService")).await?.into_inner();
        expect_equal(chat.status(), ServingStatus::Serving, "health of modelgate.v1.ChatService")?;
        expect_status(health.check(check("no.such.Service")).await, Code::NotFound, "unknown service: no.such.Service")
    }

    /// A 30-day deadline, past what a Node timer holds (2^31-1 ms): the stream must run to its end,
    /// not fail at once.
    async fn far_deadline(&self) -> CheckResult {
        let mut chat = ChatServiceClient::new(self.channel.clone());
        let req = StreamChatRequest { endpoint: "slow".into(), messages: user("one"), ..Default::default() };
        let mut stream = chat.stream_chat(request(req, "far_deadline", None, FAR_DEADLINE)).await?.into_inner();
        let mut text = String::new();
        while let Some(chunk) = stream.message().await? {
            for choice in &chunk.choices {
                if let Some(delta) = &choice.delta {
                    text.push_str(&delta.content);
                }
            }
        }
        expect_equal(text.as_str(), "echo: one", "joined deltas")
    }

    /// A method the gateway does not serve: its trailers-only UNIMPLEMENTED, as tonic reads it.
    async fn unimplemented(&self) -> CheckResult {
        let mut grpc = tonic::client::Grpc::new(self.channel.clone());
        grpc.ready().await.map_err(|e| Status::unknown(format!("channel not ready: {e}")))?;
        let codec = tonic_prost::ProstCodec::<ChatRequest, ChatResponse>::default();
        let path = tonic::codegen::http::uri::PathAndQuery::from_static("/modelgate.v1.ChatService/Nope");
        let req = request(ChatRequest::default(), "unimplemented", None, CALL_TIMEOUT);
        let result: Result<tonic::Response<ChatResponse>, Status> = grpc.unary(req, path, codec).await;
        expect_status(result, Code::Unimplemented, "unknown method /modelgate.v1.ChatService/Nope")
    }
}
