use clap::Parser;
use local_gateway::GatewayConfig;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let config = GatewayConfig::parse();
    let store = format!("{:?}", config.store).to_lowercase();
    let gateway = match local_gateway::start(config).await {
        Ok(gateway) => gateway,
        Err(err) => {
            eprintln!("local-gateway: {err}");
            return ExitCode::FAILURE;
        }
    };
    println!("ws-bridge local gateway (store: {store})");
    println!("  WebSocket     {}", gateway.websocket_url());
    println!(
        "  Broadcast     curl -X POST {}/broadcast -d '{{\"type\":\"hello\"}}'",
        gateway.http_url()
    );
    println!(
        "  Count         curl {}/connections/count",
        gateway.http_url()
    );
    println!(
        "  @connections  AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI={}",
        gateway.http_url()
    );
    println!("Press Ctrl-C to stop.");
    if let Err(err) = tokio::signal::ctrl_c().await {
        eprintln!("local-gateway: cannot wait for Ctrl-C: {err}");
    }
    gateway.shutdown().await;
    ExitCode::SUCCESS
}
