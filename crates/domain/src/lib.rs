//! The order domain: the `Order` aggregate, its value types, the use cases
//! and the ports they drive.
//!
//! Architecture invariant: this crate knows nothing of AWS, Lambda, HTTP or
//! JSON, and does no IO. Time and identifiers come in through the `Clock` and
//! `IdGenerator` ports; storage and event delivery through `OrderRepository`
//! and `EventPublisher`. Everything here is deterministic given those ports.

mod caller;
mod cursor;
mod error;
mod event;
mod idempotency;
mod order;
mod ports;
#[cfg(test)]
mod props;
mod service;
mod time;
mod values;

pub use caller::{Caller, Forbidden, StaffId};
pub use cursor::{CursorError, CursorKey, ListCursor, ListPosition, PageLimit};
pub use error::{BoxError, Field, FieldError, OrderError};
pub use event::{EventKind, OrderEvent};
pub use idempotency::{IdempotencyKey, IdempotencyRecord, RequestHash};
pub use order::{
    Cancellation, Confirmation, Order, OrderParts, OrderStatus, TransitionError, Version,
};
pub use ports::{
    Clock, CreateOutcome, EventPublisher, IdGenerator, OrderPage, OrderRepository, PendingEvent,
    PendingEvents, PublishError, RejectedEvent, RepositoryError,
};
#[cfg(any(test, feature = "mocks"))]
pub use ports::{MockClock, MockEventPublisher, MockIdGenerator, MockOrderRepository};
pub use service::{
    Delivery, DeliveryError, LineItemInput, OrderService, PlaceOrder, Placed, RelayReport,
    ServiceConfig,
};
pub use time::Timestamp;
pub use values::{CustomerId, LineItem, LineItems, OrderId, ProductId, Quantity, ValueError};
