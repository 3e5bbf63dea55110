//! The README's Rust example ("Calling modelgate from your language"); the authenticated check
//! runs it against the gateway with auth on.

// snippet:begin rust
use std::fmt::Write;
use std::time::Duration;

use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;
use tonic::{Code, Request};

use crate::pb::chat_service_client::ChatServiceClient;
use crate::pb::{ChatMessage, ChatRequest, StreamChatRequest};

/// A request with the API key and a 10 s deadline (sent as grpc-timeout).
fn with_auth<T>(message: T, auth: &MetadataValue<Ascii>) -> Request<T> {
    let mut req = Request::new(message);
    req.metadata_mut().insert("authorization", auth.clone());
    req.set_timeout(Duration::from_secs(10));
    req
}

/// Asks once, streams a reply with its token usage, and handles an error status.
pub async fn chat_example(addr: &str, api_key: &str, out: &mut String) -> Result<(), Box<dyn std::error::Error>> {
    let channel = Channel::from_shared(format!("http://{addr}"))?.connect().await?;
    let mut chat = ChatServiceClient::new(channel);
    let auth = MetadataValue::try_from(format!("Bearer {api_key}"))?;
    let question = vec![ChatMessage { role: "user".into(), content: "hi".into(), ..Default::default() }];

    let req = ChatRequest { endpoint: "chat".into(), messages: question.clone(), ..Default::default() };
    let res = chat.chat(with_auth(req, &auth)).await?.into_inner();
    writeln!(out, "{}", res.choices[0].message.as_ref().map_or("", |m| m.content.as_str()))?;

    let req = StreamChatRequest { endpoint: "chat".into(), messages: question.clone(), ..Default::default() };
    let mut stream = chat.stream_chat(with_auth(req, &auth)).await?.into_inner();
    while let Some(chunk) = stream.message().await? {
        for choice in &chunk.choices {
            write!(out, "{}", choice.delta.as_ref().map_or("", |d| d.content.as_str()))?;
        }
        if let Some(usage) = chunk.usage {
            // only the last message carries it
            writeln!(out, "\n{} tokens", usage.total_tokens)?;
        }
    }

    let req = ChatRequest { endpoint: "no-such-endpoint".into(), messages: question, ..Default::default() };
    match chat.chat(with_auth(req, &auth)).await {
        Err(status) if status.code() == Code::NotFound => writeln!(out, "not found: {}", status.message())?,
        Err(status) => return Err(status.into()),
        Ok(_) => return Err("expected NOT_FOUND, the call succeeded".into()),
    }
    Ok(())
}
// snippet:end
