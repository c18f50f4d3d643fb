//! Who a request is from: the claims API Gateway's authorizer put in the
//! event, read into a `domain::Caller`.
//!
//! A REST API's Cognito user pool authorizer passes the id token's claims
//! under `requestContext.authorizer.claims`; an HTTP API's JWT authorizer
//! under `requestContext.authorizer.jwt.claims`. Both pass every value as
//! a string, and a list claim (`cognito:groups`) arrives as Cognito writes
//! it in the token (a JSON array, or its text) or as API Gateway flattens
//! it (`[staff admin]`; one group alone as `staff`). Nothing looser is
//! read: `ops,staff` is one group of that name, `"staff"` one with quotes,
//! so a group named to look like a list grants nothing.
//!
//! The function checks this itself (defence in depth): a route deployed
//! without the authorizer has no claims, and is answered 401; and claims
//! are believed only when they come from the stage's user pool (`iss`),
//! for its app client (`aud`), of an id token (`token_use`), as the
//! authorizer checked them: anyone allowed to invoke the function directly
//! could otherwise write any claims into an event (401 too).

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

/// Whose tokens this API believes: the user pool that issues them
/// (`iss`, `https://cognito-idp.REGION.amazonaws.com/POOL_ID`) and the
/// app client they are for (`aud`). Claims of any other issuer or
/// audience, or of a token that is not an id token, name no caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPolicy {
    issuer: String,
    audience: String,
}

impl TokenPolicy {
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
        }
    }

    /// Why `claims` are not believed, if they are not.
    fn refuses(&self, claims: &Map<String, Value>) -> Option<&'static str> {
        let claim = |name: &str| claims.get(name).map(text);
        if claim("token_use").as_deref() != Some("id") {
            return Some("the token is not an id token (token_use)");
        }
        if claim("iss").as_deref() != Some(self.issuer.as_str()) {
            return Some("the token is not from this stage's user pool (iss)");
        }
        // `aud` is one client id in an id token; an authorizer may pass a
        // list in the same forms as the groups claim.
        let audience = claims.get("aud").map(groups).unwrap_or_default();
        if !audience.contains(&self.audience) {
            return Some("the token is not for this API's app client (aud)");
        }
        None
    }
}

/// Why an event has no usable caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CallerError {
    /// No authorizer claims at all: 401.
    NoClaims,
    /// Claims of a token this API does not believe: 401.
    Untrusted(&'static str),
    /// Claims that name no one this API serves: 403.
    Unusable(&'static str),
}

impl From<CallerError> for ApiError {
    fn from(err: CallerError) -> Self {
        match err {
            CallerError::NoClaims | CallerError::Untrusted(_) => Self::Unauthenticated,
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

/// The groups of a `cognito:groups` claim: a JSON array, the text of one
/// (`["staff","admin"]`), API Gateway's `[staff admin]`, or one group
/// alone (`staff`), which is then taken as it is.
pub(crate) fn groups(value: &Value) -> Vec<String> {
    if let Value::Array(items) = value {
        return items.iter().map(text).collect();
    }
    let text = text(value);
    if let Ok(Value::Array(items)) = serde_json::from_str::<Value>(&text) {
        return items.iter().map(self::text).collect();
    }
    match text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        Some(inner) => inner
            .split(' ')
            .filter(|g| !g.is_empty())
            .map(str::to_owned)
            .collect(),
        None if text.is_empty() => Vec::new(),
        None => vec![text],
    }
}

/// The token's subject (`sub`) in an event's claims, for the request log:
/// who made a request, whatever it was allowed to do.
pub(crate) fn subject(event: &Value) -> Option<String> {
    claims(event)?.get("sub").map(text)
}

/// Reads the caller from an API Gateway event whose claims `policy`
/// believes.
pub(crate) fn from_event(event: &Value, policy: &TokenPolicy) -> Result<Caller, CallerError> {
    let claims = claims(event).ok_or(CallerError::NoClaims)?;
    if let Some(why) = policy.refuses(claims) {
        return Err(CallerError::Untrusted(why));
    }
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

    const ISSUER: &str = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_pool";
    const CLIENT: &str = "client1";

    fn policy() -> TokenPolicy {
        TokenPolicy::new(ISSUER, CLIENT)
    }

    fn from(event: &Value) -> Result<Caller, CallerError> {
        from_event(event, &policy())
    }

    /// `claims` of an id token of the policy's pool and client.
    fn trusted(claims: Value) -> Value {
        let mut claims = claims;
        if let Some(map) = claims.as_object_mut() {
            map.insert("iss".into(), json!(ISSUER));
            map.insert("aud".into(), json!(CLIENT));
            map.insert("token_use".into(), json!("id"));
        }
        claims
    }

    fn rest(claims: Value) -> Value {
        json!({"httpMethod": "GET", "requestContext": {"authorizer": {"claims": trusted(claims)}}})
    }

    fn http(claims: Value) -> Value {
        json!({"version": "2.0", "requestContext": {"authorizer": {"jwt": {"claims": trusted(claims), "scopes": null}}}})
    }

    #[test]
    fn the_subject_is_read_from_either_kind_of_claims() {
        assert_eq!(
            subject(&rest(json!({"sub": "5f0e-1"}))).as_deref(),
            Some("5f0e-1")
        );
        assert_eq!(
            subject(&http(json!({"sub": "5f0e-2"}))).as_deref(),
            Some("5f0e-2")
        );
        assert_eq!(subject(&json!({"httpMethod": "GET"})), None);
    }

    /// A staff event whose claims a token of another pool, another client,
    /// or an access token would carry: not believed, whatever it claims.
    #[test]
    fn claims_of_another_pool_client_or_token_kind_name_no_caller() {
        let staff = json!({"sub": "5f0e-1", "cognito:groups": "staff"});
        let with = |key: &str, value: Value| {
            let mut claims = trusted(staff.clone());
            claims[key] = value;
            json!({"httpMethod": "GET", "requestContext": {"authorizer": {"claims": claims}}})
        };
        let without = |key: &str| {
            let mut claims = trusted(staff.clone());
            claims.as_object_mut().map(|m| m.remove(key));
            json!({"httpMethod": "GET", "requestContext": {"authorizer": {"claims": claims}}})
        };
        for (event, why) in [
            (
                with(
                    "iss",
                    json!("https://cognito-idp.eu-west-1.amazonaws.com/other"),
                ),
                "(iss)",
            ),
            (without("iss"), "(iss)"),
            (with("aud", json!("another-client")), "(aud)"),
            (without("aud"), "(aud)"),
            (with("token_use", json!("access")), "(token_use)"),
            (without("token_use"), "(token_use)"),
        ] {
            match from(&event) {
                Err(CallerError::Untrusted(reason)) => assert!(reason.ends_with(why), "{reason}"),
                other => panic!("{event}: {other:?}"),
            }
            assert_eq!(
                ApiError::from(CallerError::Untrusted("x")).status(),
                http::StatusCode::UNAUTHORIZED
            );
        }
        // An audience passed as a list still names the client.
        assert!(from(&with("aud", json!("[other client1]"))).is_ok());
        assert!(from(&with("aud", json!(["client1"]))).is_ok());
    }

    #[test]
    fn the_groups_claim_is_read_as_cognito_and_api_gateway_write_it_and_no_looser() {
        for form in [
            json!("staff"),
            json!("[staff]"),
            json!("[admin staff]"),
            json!("[\"admin\",\"staff\"]"),
            json!(["admin", "staff"]),
        ] {
            assert!(
                groups(&form).iter().any(|g| g == "staff"),
                "{form} -> {:?}",
                groups(&form)
            );
        }
        // Groups named to look like a list, or quoted, are what they are.
        for form in [
            json!("ops,staff"),
            json!("\"staff\""),
            json!("[ops,staff]"),
            json!("staff admin"),
            json!(" staff"),
            json!("[\"staff\" ]x"),
        ] {
            assert!(
                !groups(&form).iter().any(|g| g == "staff"),
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
            assert_eq!(from(&event), expected, "{event}");
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
            assert_eq!(from(&event), Err(CallerError::NoClaims), "{event}");
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
                matches!(from(&rest(claims.clone())), Err(CallerError::Unusable(_))),
                "{claims}"
            );
        }
    }
}
