//! The baseline for the load benchmark: axum's hello world with nothing
//! else, so `bench/load.sh` can show what carebase's middleware costs.
//! Usage: cargo run --release --example bare_axum -- 127.0.0.1:18080

use axum::Router;
use axum::routing::get;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18080".to_owned());
    let app = Router::new().route("/health", get(|| async { "Hello, World!" }));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(listener, app).await
}
