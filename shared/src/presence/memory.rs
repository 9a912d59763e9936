//! Presence in this process: per channel, its members by user. Gone when the process stops.

use super::{Left, Member, MemberPage, PresenceStore, new_token};
use crate::Error;
use crate::time::now_epoch_ms;
use async_trait::async_trait;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard, PoisonError};

#[derive(Debug, Default)]
pub struct InMemoryPresence {
    channels: Mutex<HashMap<String, BTreeMap<String, State>>>,
}

#[derive(Debug)]
struct State {
    connections: BTreeSet<String>,
    joined_at: i64,
    info: Option<Value>,
    /// Set while the last connection is gone: the leave the delayed check may confirm.
    leave_token: Option<String>,
}

impl InMemoryPresence {
    pub fn new() -> Self {
        Self::default()
    }

    // Nothing calls out while holding the lock, so a poisoned one is still consistent.
    fn lock(&self) -> MutexGuard<'_, HashMap<String, BTreeMap<String, State>>> {
        self.channels.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl PresenceStore for InMemoryPresence {
    async fn join(
        &self,
        channel: &str,
        user: &str,
        connection_id: &str,
        info: Option<&Value>,
    ) -> Result<Option<Member>, Error> {
        let mut channels = self.lock();
        let members = channels.entry(channel.to_owned()).or_default();
        let first = !members.contains_key(user);
        let state = members.entry(user.to_owned()).or_insert_with(|| State {
            connections: BTreeSet::new(),
            joined_at: now_epoch_ms(),
            info: None,
            leave_token: None,
        });
        state.connections.insert(connection_id.to_owned());
        state.leave_token = None;
        if let Some(info) = info {
            state.info = Some(info.clone());
        }
        Ok(first.then(|| Member {
            user: user.to_owned(),
            connections: state.connections.len(),
            joined_at: state.joined_at,
            info: state.info.clone(),
        }))
    }

    async fn leave(&self, channel: &str, user: &str, connection_id: &str) -> Result<Left, Error> {
        let mut channels = self.lock();
        let Some(state) = channels.get_mut(channel).and_then(|m| m.get_mut(user)) else {
            return Ok(Left::NotMember);
        };
        if !state.connections.remove(connection_id) {
            return Ok(Left::NotMember);
        }
        if !state.connections.is_empty() {
            return Ok(Left::Remaining);
        }
        let token = new_token();
        state.leave_token = Some(token.clone());
        Ok(Left::Last { token })
    }

    async fn confirm_leave(&self, channel: &str, user: &str, token: &str) -> Result<bool, Error> {
        let mut channels = self.lock();
        let Some(members) = channels.get_mut(channel) else {
            return Ok(false);
        };
        let gone = members.get(user).is_some_and(|state| {
            state.connections.is_empty() && state.leave_token.as_deref() == Some(token)
        });
        if gone {
            members.remove(user);
            if members.is_empty() {
                channels.remove(channel);
            }
        }
        Ok(gone)
    }

    async fn members(
        &self,
        channel: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<MemberPage, Error> {
        let channels = self.lock();
        let Some(members) = channels.get(channel) else {
            return Ok(MemberPage::default());
        };
        let start = match after {
            Some(after) => Bound::Excluded(after),
            None => Bound::Unbounded,
        };
        let mut page: Vec<Member> = members
            .range::<str, _>((start, Bound::Unbounded))
            .take(limit.saturating_add(1))
            .map(|(user, state)| Member {
                user: user.clone(),
                connections: state.connections.len(),
                joined_at: state.joined_at,
                info: state.info.clone(),
            })
            .collect();
        let next = if page.len() > limit {
            page.truncate(limit);
            page.last().map(|member| member.user.clone())
        } else {
            None
        };
        Ok(MemberPage {
            members: page,
            next,
        })
    }
}

/// The presence contract, one test per check: `presence::memory::in_memory::<check>`.
#[cfg(test)]
mod in_memory {
    crate::presence_contract_tests!(|| async { super::InMemoryPresence::new() });
}
