//! The in-memory `EventPublisher`: keeps what it accepted, and can be told
//! to refuse, so tests can make the bus fail at will.

use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use domain::{EventPublisher, OrderEvent, PublishError};

type Listener = Box<dyn Fn(&OrderEvent) + Send + Sync>;

#[derive(Default)]
pub struct InMemoryEventPublisher {
    published: Mutex<Vec<OrderEvent>>,
    failing: Mutex<bool>,
    listeners: Mutex<Vec<Listener>>,
}

impl std::fmt::Debug for InMemoryEventPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InMemoryEventPublisher")
            .field("published", &self.published().len())
            .field("failing", &self.is_failing())
            .finish_non_exhaustive()
    }
}

impl InMemoryEventPublisher {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every event accepted so far, in order.
    pub fn published(&self) -> Vec<OrderEvent> {
        self.published
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// While failing, every publish is refused as `Unavailable`.
    pub fn set_failing(&self, failing: bool) {
        *self.failing.lock().unwrap_or_else(PoisonError::into_inner) = failing;
    }

    pub fn is_failing(&self) -> bool {
        *self.failing.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Calls `listener` with each accepted event, after it is recorded.
    pub fn subscribe(&self, listener: impl Fn(&OrderEvent) + Send + Sync + 'static) {
        self.listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Box::new(listener));
    }
}

#[async_trait]
impl EventPublisher for InMemoryEventPublisher {
    async fn publish(&self, events: &[OrderEvent]) -> Result<(), PublishError> {
        if self.is_failing() {
            return Err(PublishError::Unavailable(
                "the in-memory bus is set to fail".into(),
            ));
        }
        self.published
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(events);
        let listeners = self
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for event in events {
            for listener in listeners.iter() {
                listener(event);
            }
        }
        Ok(())
    }
}
