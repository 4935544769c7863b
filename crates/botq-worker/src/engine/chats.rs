//! Per-chat ordering inside one process.
//!
//! With ordering on, the events of one chat run one after another: the first
//! delivery of a chat starts a chain task; later deliveries of that chat
//! queue behind it (holding their concurrency permits, so the hard cap still
//! counts them) and the chain runs them in stream order. Other chats run in
//! parallel. Across replicas, the chat lock taken by the claim script does the
//! same job.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use tokio::sync::OwnedSemaphorePermit;

use botq_core::queue::Delivery;

/// A delivery and the concurrency permit it holds.
pub type Slot = (Delivery, OwnedSemaphorePermit);

#[derive(Debug, Default)]
pub struct ChatQueues {
    /// Chats with a running chain, and what waits behind it.
    active: Mutex<HashMap<String, VecDeque<Slot>>>,
}

impl ChatQueues {
    /// Queues `slot` behind a running chain of `chat`, or returns it when the
    /// caller must start a new chain for it.
    pub fn enter(&self, chat: &str, slot: Slot) -> Option<Slot> {
        let mut active = self.active.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(waiting) = active.get_mut(chat) {
            waiting.push_back(slot);
            None
        } else {
            active.insert(chat.to_owned(), VecDeque::new());
            Some(slot)
        }
    }

    /// The next delivery of `chat`'s chain, or `None` (and the chain ends).
    pub fn next(&self, chat: &str) -> Option<Slot> {
        let mut active = self.active.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let next = active.get_mut(chat).and_then(VecDeque::pop_front);
        if next.is_none() {
            active.remove(chat);
        }
        next
    }
}
