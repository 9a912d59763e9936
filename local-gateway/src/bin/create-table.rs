//! Creates the connections, subscriptions and user-slots tables from `infra/` if they do not
//! exist (used by `make dynamodb-local`).

use clap::Parser;
use local_gateway::{GatewayConfig, StoreKind};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    about = "Create ws-bridge's connections, subscriptions and user-slots tables if they are missing"
)]
struct Args {
    /// DynamoDB endpoint, e.g. http://127.0.0.1:8000 for DynamoDB Local.
    #[arg(long, env = "AWS_ENDPOINT_URL_DYNAMODB")]
    dynamodb_endpoint: Option<String>,
    /// Connections table name (default: the name in `infra/connections-table.json`); the
    /// subscriptions and user-slots tables are named after it.
    #[arg(long, env = "CONNECTIONS_TABLE")]
    connections_table: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let mut config = GatewayConfig::on_free_port();
    config.store = StoreKind::Dynamodb;
    config.dynamodb_endpoint = args.dynamodb_endpoint;
    config.connections_table = args.connections_table;
    match local_gateway::dynamodb_store(&config).await {
        Ok(store) => {
            println!(
                "tables {}, {} and {} are ready",
                store.table(),
                store.subscriptions_table(),
                store.user_slots_table()
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("create-table: {err}");
            ExitCode::FAILURE
        }
    }
}
