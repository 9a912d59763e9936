//! The library every ws-bridge Lambda and the local gateway share.
//!
//! * [`store`]: where connection ids live ([`ConnectionStore`]), with the embedded in-memory store.
//! * [`pusher`]: how messages reach a connection through the API Gateway management API.
//! * [`fanout`]: one message to an audience, paginated, bounded, with the delivery report.
//! * [`handlers`]: the Lambda handlers, as plain async functions, for `$connect`, `$disconnect`,
//!   `$default`, the delivery routes (`POST /broadcast[/{channel}]`, `/users/{userId}`,
//!   `/connections/{connectionId}`), `GET /connections/count` and `GET /stats`.
//! * [`history`]: sequence numbers and kept messages per channel, for resume ([`ChannelHistory`]).
//! * [`presence`]: who is in a channel, with joins and leaves that do not flap ([`PresenceStore`]).
//! * [`protocol`]: the JSON that clients and backends exchange with us.

pub mod auth;
pub mod broadcasts;
pub mod error;
pub mod fanout;
pub mod handlers;
pub mod history;
pub mod local;
pub mod presence;
pub mod protocol;
pub mod pusher;
pub mod settings;
mod sigv4;
pub mod store;
pub mod throttle;
pub mod time;
pub mod webhooks;

pub use error::Error;
pub use history::{ChannelHistory, DynamoDbHistory, InMemoryHistory};
pub use presence::{DynamoDbPresence, InMemoryPresence, PresenceStore};
pub use pusher::{ApiGatewayPusher, EventPusher, MessagePusher, PushOutcome, Throttled};
pub use settings::Settings;
pub use store::{
    ChannelCounts, Connection, ConnectionPage, ConnectionStore, DynamoDbStore, InMemoryStore,
};

/// Re-exported so that function crates name event types through one version.
pub use aws_lambda_events;
