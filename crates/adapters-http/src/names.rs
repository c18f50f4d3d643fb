//! What the request parser and the error responses both name: the body's
//! size limit and each domain field's name on the wire.

use domain::Field;

/// The largest body accepted, in bytes after base64 decoding.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The wire name of a domain field.
pub(crate) fn field_name(field: Field) -> String {
    match field {
        Field::CustomerId => "customerId".into(),
        Field::Items => "items".into(),
        Field::ItemProductId(i) => format!("items[{i}].productId"),
        Field::ItemQuantity(i) => format!("items[{i}].quantity"),
        Field::IdempotencyKey => "Idempotency-Key".into(),
    }
}
