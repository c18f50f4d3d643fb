//! Who a request is from: the claims API Gateway's authorizer put in the
//! event, read into a `domain::Caller`.
//!
//! A REST API's Cognito user pool authorizer passes the id token's claims
//! under `requestContext.authorizer.claims`; an HTTP API's JWT authorizer
//! under `requestContext.authorizer.jwt.claims`. Both pass every value as
//! a string, and the two write a list claim (`cognito:groups`) differently
//! (⚠ the documented examples disagree: `staff`, `[staff admin]` and
//! `staff,admin` all appear), so every one of those forms is read.
//!
//! The function checks this itself (defence in depth): a route deployed
//! without the authorizer has no claims, and is answered 401.

use domain::{Caller, CustomerId, StaffId};
use serde_json::{Map, Value};

use crate::problem::ApiError;

/// The group whose members are staff.
pub const STAFF_GROUP: &str = "staff";
/// The claim naming the customer a user is.
pub const CUSTOMER_CLAIM: &str = "custom:customerId";

/// The caller of a request, as read from its event (a request extension).
#[derive(Debug, Clone)]
pub(crate) struct Identity(pub(crate) Result<Caller, CallerError>);

/// Why an event has no usable caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CallerError {
    /// No authorizer claims at all: 401.
    NoClaims,
    /// Claims that name no one this API serves: 403.
    Unusable(&'static str),
}

impl From<CallerError> for ApiError {
    fn from(err: CallerError) -> Self {
        match err {
            CallerError::NoClaims => Self::Unauthenticated,
            CallerError::Unusable(why) => Self::Forbidden(why.to_owned()),
        }
    }
}

/// The claims object of a REST (v1) or HTTP API (v2) event.
fn claims(event: &Value) -> Option<&Map<String, Value>> {
    let authorizer = event.pointer("/requestContext/authorizer")?;
    authorizer
        .get("claims")
        .or_else(|| authorizer.pointer("/jwt/claims"))
        .and_then(Value::as_object)
}

/// A claim's text; a JSON string as it is, anything else as JSON.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The groups of a `cognito:groups` claim in any of its forms: a JSON
/// array, `staff`, `[staff admin]`, `[staff, admin]`, `staff,admin`,
/// `["staff","admin"]`.
pub(crate) fn groups(value: &Value) -> Vec<String> {
    if let Value::Array(items) = value {
        return items.iter().map(text).collect();
    }
    text(value)
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split([',', ' '])
        .map(|g| g.trim().trim_matches('"'))
        .filter(|g| !g.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Reads the caller from an API Gateway event.
pub(crate) fn from_event(event: &Value) -> Result<Caller, CallerError> {
    let claims = claims(event).ok_or(CallerError::NoClaims)?;
    let is_staff = claims
        .get("cognito:groups")
        .is_some_and(|g| groups(g).iter().any(|g| g == STAFF_GROUP));
    if is_staff {
        let subject = claims
            .get("sub")
            .or_else(|| claims.get("cognito:username"))
            .map(text)
            .unwrap_or_default();
        return StaffId::parse(&subject)
            .map(Caller::Staff)
            .map_err(|_| CallerError::Unusable("the token's subject is not a usable staff id"));
    }
    match claims.get(CUSTOMER_CLAIM).map(text) {
        Some(id) => CustomerId::parse(&id).map(Caller::Customer).map_err(|_| {
            CallerError::Unusable("the token's custom:customerId is not a customer id")
        }),
        None => Err(CallerError::Unusable(
            "the token names neither a customer (custom:customerId) nor staff (group staff)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rest(claims: Value) -> Value {
        json!({"httpMethod": "GET", "requestContext": {"authorizer": {"claims": claims}}})
    }

    fn http(claims: Value) -> Value {
        json!({"version": "2.0", "requestContext": {"authorizer": {"jwt": {"claims": claims, "scopes": null}}}})
    }

    #[test]
    fn every_documented_form_of_the_groups_claim_is_read() {
        for form in [
            json!("staff"),
            json!("[staff]"),
            json!("[admin staff]"),
            json!("[admin, staff]"),
            json!("admin,staff"),
            json!("[\"admin\",\"staff\"]"),
            json!(["admin", "staff"]),
        ] {
            assert!(
                groups(&form).iter().any(|g| g == "staff"),
                "{form} -> {:?}",
                groups(&form)
            );
        }
        assert_eq!(groups(&json!("staffers")), ["staffers"]);
        assert!(groups(&json!("[]")).is_empty());
    }

    #[test]
    fn callers_come_from_rest_and_http_api_claims() {
        let customer = Caller::Customer(CustomerId::parse("CUST-001").unwrap());
        let staff = Caller::Staff(StaffId::parse("5f0e-1").unwrap());
        for (event, expected) in [
            (
                rest(json!({"custom:customerId": "CUST-001"})),
                Ok(customer.clone()),
            ),
            (http(json!({"custom:customerId": "CUST-001"})), Ok(customer)),
            (
                rest(json!({"sub": "5f0e-1", "cognito:groups": "staff"})),
                Ok(staff.clone()),
            ),
            (
                http(json!({"sub": "5f0e-1", "cognito:groups": "[staff]"})),
                Ok(staff.clone()),
            ),
            // Staff wins over a customer claim on the same user.
            (
                rest(json!({"sub": "5f0e-1", "cognito:groups": "staff", "custom:customerId": "C"})),
                Ok(staff),
            ),
        ] {
            assert_eq!(from_event(&event), expected, "{event}");
        }
    }

    #[test]
    fn no_claims_is_unauthenticated_and_unusable_claims_are_forbidden() {
        for event in [
            json!({"httpMethod": "GET"}),
            json!({"httpMethod": "GET", "requestContext": {}}),
            json!({"httpMethod": "GET", "requestContext": {"authorizer": null}}),
            json!({"httpMethod": "GET", "requestContext": {"authorizer": {"principalId": "x"}}}),
            rest(json!("not an object")),
        ] {
            assert_eq!(from_event(&event), Err(CallerError::NoClaims), "{event}");
        }
        for claims in [
            json!({}),
            json!({"sub": "x", "cognito:groups": "admin"}),
            json!({"custom:customerId": "C#1"}),
            json!({"custom:customerId": ""}),
            json!({"sub": "a b", "cognito:groups": "staff"}),
            json!({"cognito:groups": "staff"}),
        ] {
            assert!(
                matches!(
                    from_event(&rest(claims.clone())),
                    Err(CallerError::Unusable(_))
                ),
                "{claims}"
            );
        }
    }
}
