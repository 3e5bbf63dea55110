//! interop-client-rust: a Rust gRPC client (tonic, stubs generated from proto/ by
//! tonic-prost-build in build.rs) that runs the interop checks against a running gateway.
//!
//! Run by test/interop/polyglot.spec.ts, which starts the gateways with the endpoints the checks
//! expect. Prints one JSON line per check, the same checks and names as ../go/checks.go, plus
//! "health":
//!
//! ```text
//! {"lang":"rust","check":"chat_unary","ok":true,"ms":3.1}
//! {"lang":"rust","check":"not_found","ok":false,"ms":2.0,"error":"..."}
//! ```
//!
//! and exits 1 if any check failed, 2 on bad arguments. Each call sends x-request-id
//! "rust-<check>" so the spec can find the gateway's log line for it.

mod checks;
mod example;

use std::process::ExitCode;
use std::time::Instant;

use tonic::transport::Channel;

pub mod pb {
    tonic::include_proto!("modelgate.v1");
}

fn usage() -> ExitCode {
    eprintln!("usage: interop-client-rust --addr HOST:PORT --auth-addr HOST:PORT --api-key KEY");
    ExitCode::from(2)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut addr, mut auth_addr, mut api_key) = (None, None, None);
    if args.len() % 2 != 0 {
        return usage();
    }
    for pair in args.chunks(2) {
        match pair[0].as_str() {
            "--addr" => addr = Some(pair[1].clone()),
            "--auth-addr" => auth_addr = Some(pair[1].clone()),
            "--api-key" => api_key = Some(pair[1].clone()),
            _ => return usage(),
        }
    }
    let (Some(addr), Some(auth_addr), Some(api_key)) = (addr, auth_addr, api_key) else {
        return usage();
    };
    let (channel, auth_channel) = match (connect(&addr), connect(&auth_addr)) {
        (Ok(c), Ok(a)) => (c, a),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("bad address: {e}");
            return ExitCode::from(2);
        }
    };
    let checks = checks::Checks::new(channel, auth_channel, auth_addr, api_key);
    let mut failed = 0;
    for name in checks::NAMES {
        let started = Instant::now();
        let outcome = checks.run(name).await;
        let ms = (started.elapsed().as_micros() as f64 / 100.0).round() / 10.0;
        let line = match outcome {
            Ok(()) => serde_json::json!({"lang": "rust", "check": name, "ok": true, "ms": ms}),
            Err(error) => {
                failed += 1;
                serde_json::json!({"lang": "rust", "check": name, "ok": false, "ms": ms, "error": error.to_string()})
            }
        };
        println!("{line}");
    }
    if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// A lazily connecting h2c channel to host:port.
fn connect(addr: &str) -> Result<Channel, Box<dyn std::error::Error>> {
    let channel = Channel::from_shared(format!("http://{addr}"))?.connect_lazy();
    Ok(channel)
}
