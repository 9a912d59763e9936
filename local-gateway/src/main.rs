use clap::Parser;
use local_gateway::GatewayConfig;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

// A broadcast allocates a request, a response and a frame per connection from many threads at
// once; mimalloc's thread-local pools handle that with less contention than glibc's malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(about = "Emulates API Gateway WebSockets (and the backend HTTP API) on this machine")]
struct Cli {
    #[command(flatten)]
    config: GatewayConfig,
    /// Print the HTTP API's routes as JSON lines (method, path, function) and exit; the
    /// template check compares them with template.yaml.
    #[arg(long)]
    list_routes: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let Cli {
        config,
        list_routes,
    } = Cli::parse();
    if list_routes && config.template.is_some() {
        // The template's route table as JSON: nothing is started.
        return match local_gateway::read_template(&config) {
            Ok(summary) => {
                println!("{summary:#}");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("local-gateway: {err}");
                ExitCode::FAILURE
            }
        };
    }
    if list_routes {
        // Function names only: nothing is invoked, so the endpoint is never contacted.
        for route in local_gateway::invoked_functions("http://unused").http_routes() {
            let line = serde_json::json!({
                "method": route.method.as_str(),
                "path": route.path,
                "function": route.function.name(),
            });
            println!("{line}");
        }
        return ExitCode::SUCCESS;
    }
    // Each connection, open or pending, is a file descriptor.
    let open_files = local_gateway::raise_file_limit();
    let gateway = match local_gateway::start(config).await {
        Ok(gateway) => gateway,
        Err(err) => {
            eprintln!("local-gateway: {err}");
            return ExitCode::FAILURE;
        }
    };
    println!("ws-bridge local gateway");
    for (what, line) in gateway.summary() {
        println!("  {what:<13} {line}");
    }
    println!(
        "  HTTP base     {} (--list-routes lists the routes)",
        gateway.http_url()
    );
    if let Some(inspector) = gateway.inspector_url() {
        println!("  Inspector     {inspector}");
    }
    println!(
        "  @connections  AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI={}",
        gateway.http_url()
    );
    if let Some(open_files) = open_files {
        println!("  Open files    up to {open_files} (connections and pending handshakes)");
    }
    for warning in gateway
        .config()
        .exposure_warnings(gateway.settings().api_token.is_some())
    {
        tracing::warn!("{warning}");
    }
    println!("Press Ctrl-C to stop.");
    stop_requested().await;
    // Once tokio has taken SIGINT over, the default handler is gone: a second Ctrl-C must
    // still end the process, at once.
    tokio::spawn(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("local-gateway: second Ctrl-C, exiting now");
            std::process::exit(130);
        }
    });
    println!(
        "Stopping (at most {} s; Ctrl-C again to exit now).",
        (local_gateway::SHUTDOWN_GRACE + local_gateway::WEBHOOK_FLUSH).as_secs()
    );
    gateway.shutdown().await;
    ExitCode::SUCCESS
}

/// Ctrl-C, or SIGTERM (`kill`, a process manager): either stops the gateway cleanly, closing
/// the sockets and removing the runtimes' temporary folder.
async fn stop_requested() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    result = tokio::signal::ctrl_c() => {
                        if let Err(err) = result {
                            eprintln!("local-gateway: cannot wait for Ctrl-C: {err}");
                        }
                    }
                    _ = terminate.recv() => {}
                }
                return;
            }
            Err(err) => eprintln!("local-gateway: cannot wait for SIGTERM: {err}"),
        }
    }
    if let Err(err) = tokio::signal::ctrl_c().await {
        eprintln!("local-gateway: cannot wait for Ctrl-C: {err}");
    }
}
