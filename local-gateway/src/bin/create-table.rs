//! Creates the connections, subscriptions, user-slots, history and presence tables from `infra/` if they do not
//! exist (used by `make dynamodb-local`).

use clap::Parser;
use local_gateway::{GatewayConfig, StoreKind};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    about = "Create ws-bridge's connections, subscriptions, user-slots, history and presence tables if they are missing"
)]
struct Args {
    /// DynamoDB endpoint, e.g. http://127.0.0.1:8000 for DynamoDB Local.
    #[arg(long, env = "AWS_ENDPOINT_URL_DYNAMODB")]
    dynamodb_endpoint: Option<String>,
    /// Connections table name (default: the name in `infra/connections-table.json`); the
    /// subscriptions and user-slots tables are named after it.
    #[arg(long, env = "CONNECTIONS_TABLE")]
    connections_table: Option<String>,
    /// History table name (default: the name in `infra/history-table.json`).
    #[arg(long, env = "HISTORY_TABLE")]
    history_table: Option<String>,
    /// Presence table name (default: the name in `infra/presence-table.json`).
    #[arg(long, env = "PRESENCE_TABLE")]
    presence_table: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let mut config = GatewayConfig::on_free_port();
    config.store = StoreKind::Dynamodb;
    config.dynamodb_endpoint = args.dynamodb_endpoint;
    config.connections_table = args.connections_table;
    config.history_table = args.history_table;
    config.presence_table = args.presence_table;
    let created = async {
        let store = local_gateway::dynamodb_store(&config).await?;
        let history = local_gateway::dynamodb_history(&config).await?;
        let presence = local_gateway::dynamodb_presence(&config).await?;
        Ok::<_, local_gateway::GatewayError>((store, history, presence))
    };
    match created.await {
        Ok((store, history, presence)) => {
            println!(
                "tables {}, {}, {}, {} and {} are ready",
                store.table(),
                store.subscriptions_table(),
                store.user_slots_table(),
                history.table(),
                presence.table()
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("create-table: {err}");
            ExitCode::FAILURE
        }
    }
}
