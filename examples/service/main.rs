//! A multi-tenant project tracker over HTTP, on a throwaway PostgreSQL in RLS mode.
//!
//! ```sh
//! cargo run --example service
//! ```
//!
//! It prints its address and `curl` lines to try. Each statement's span is logged as it
//! closes (`RUST_LOG` takes `target=level` directives, by default
//! `tenant_query=info,service=info`). With `DATABASE_URL` set, it works in a fresh
//! database on that server, whose role must also be allowed to create roles.

mod app;

use std::str::FromStr;

use tenant_query::testing::TestDb;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::prelude::*;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let filter =
        std::env::var("RUST_LOG").unwrap_or_else(|_| "tenant_query=info,service=info".into());
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_span_events(FmtSpan::CLOSE))
        .with(Targets::from_str(&filter)?)
        .init();

    let test_db = TestDb::new().await?;
    let db = app::setup(&test_db).await?;
    let demo = app::Demo::default();
    let router = app::router(db, demo.tokens());

    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = match tokio::net::TcpListener::bind(&addr).await {
        Ok(listener) => listener,
        // Taken: any free port will do for a demo.
        Err(_) => tokio::net::TcpListener::bind("127.0.0.1:0").await?,
    };
    let url = format!("http://{}", listener.local_addr()?);
    let (acme, globex) = (app::ACME_TOKEN, app::GLOBEX_TOKEN);
    println!("project tracker on {url} (row-level security on; Ctrl-C stops it)");
    println!("tenants: Acme (token {acme}), Globex (token {globex})\n");
    println!("try:");
    println!(
        "  curl -s -X POST {url}/projects -H 'authorization: Bearer {acme}' \
         -H 'content-type: application/json' -d '{{\"name\":\"Apollo\"}}'"
    );
    println!("  curl -s {url}/projects -H 'authorization: Bearer {acme}'");
    println!(
        "  curl -s -X POST {url}/projects/<id>/tasks -H 'authorization: Bearer {acme}' \
         -H 'content-type: application/json' -d '{{\"title\":\"Launch\"}}'"
    );
    println!(
        "  curl -s -X POST {url}/tasks/<task id>/comments -H 'authorization: Bearer {acme}' \
         -H 'content-type: application/json' -d '{{\"body\":\"go\"}}'"
    );
    println!("  curl -s {url}/tree -H 'authorization: Bearer {acme}'");
    println!("  curl -s {url}/tasks/open -H 'authorization: Bearer {acme}'");
    println!("  curl -s {url}/projects/<id>/history -H 'authorization: Bearer {acme}'");
    println!("  curl -si {url}/projects/<id> -H 'authorization: Bearer {globex}'   # 404");
    println!("  curl -si {url}/projects                                            # 401\n");
    axum::serve(listener, router).await?;
    Ok(())
}
