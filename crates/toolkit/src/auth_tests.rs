//! The local pool's tokens, checked as API Gateway's authorizers check
//! them.

use super::*;

fn pool_in(tag: &str) -> LocalPool {
    LocalPool::open(&test_pool_dir(tag)).expect("a pool")
}

#[test]
fn a_minted_token_verifies_with_cognitos_claims() {
    let pool = pool_in("claims");
    let token = pool
        .mint(&Who::Customer("CUST-001".into()), Duration::from_secs(600))
        .expect("token");
    let claims = pool
        .verify("Authorization", Some(&format!("Bearer {token}")))
        .expect("valid");
    assert_eq!(claims["custom:customerId"], "CUST-001");
    assert_eq!(claims["token_use"], "id");
    assert_eq!(claims["aud"], LOCAL_CLIENT_ID);
    assert!(claims.get("cognito:groups").is_none());
    // Without the Bearer prefix too; the same user keeps one `sub`.
    let again = pool.verify("Authorization", Some(&token)).expect("valid");
    assert_eq!(again["sub"], claims["sub"]);
    let staff = pool
        .mint(&Who::Staff, Duration::from_secs(60))
        .expect("token");
    let staff = pool.verify("Authorization", Some(&staff)).expect("valid");
    assert_eq!(staff["cognito:groups"], json!(["staff"]));
}

#[test]
fn missing_expired_foreign_and_non_id_tokens_are_refused() {
    let pool = pool_in("refusals");
    assert_eq!(
        pool.verify("Authorization", None),
        Err(Refusal::Missing("Authorization".into()))
    );
    assert!(matches!(
        pool.verify("Authorization", Some("Bearer ")),
        Err(Refusal::Missing(_))
    ));
    let expired = pool
        .mint(&Who::Customer("CUST-1".into()), Duration::ZERO)
        .expect("token");
    assert!(matches!(
        pool.verify("Authorization", Some(&expired)),
        Err(Refusal::Invalid(why)) if why.contains("Expired")
    ));
    let other = pool_in("other")
        .mint(&Who::Customer("CUST-1".into()), Duration::from_secs(60))
        .expect("token");
    assert!(matches!(
        pool.verify("Authorization", Some(&other)),
        Err(Refusal::Invalid(why)) if why.contains("Signature")
    ));
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("local".into());
    let forge =
        |claims: Value| jsonwebtoken::encode(&header, &claims, &pool.encoding).expect("encode");
    let later = now_secs() + 600;
    let wrong_audience = forge(
        json!({"aud": "another-client", "iss": pool.issuer, "exp": later, "token_use": "id"}),
    );
    assert!(matches!(
        pool.verify("Authorization", Some(&wrong_audience)),
        Err(Refusal::Invalid(why)) if why.contains("Audience")
    ));
    let access = forge(
        json!({"aud": LOCAL_CLIENT_ID, "iss": pool.issuer, "exp": later, "token_use": "access"}),
    );
    assert_eq!(
        pool.verify("Authorization", Some(&access)),
        Err(Refusal::NotAnIdToken("access".into()))
    );
    assert!(matches!(
        pool.verify("Authorization", Some("not.a.token")),
        Err(Refusal::Invalid(_))
    ));
}

/// A verified token is remembered (API Gateway caches an authorizer's
/// result, AuthorizerResultTtlInSeconds), but its expiry is checked on
/// every use, and a token with the same claims and another signature is
/// not taken for it.
#[test]
fn a_remembered_token_still_expires_and_its_claims_cannot_be_borrowed() {
    let pool = pool_in("claims");
    let token = pool
        .mint(&Who::Customer("CUST-7".into()), Duration::from_secs(600))
        .expect("token");
    pool.verify("Authorization", Some(&token)).expect("valid");
    let (signed, _) = token.rsplit_once('.').expect("three parts");
    let forged = format!("{signed}.{}", "A".repeat(342));
    assert!(matches!(
        pool.verify("Authorization", Some(&forged)),
        Err(Refusal::Invalid(why)) if why.contains("Signature")
    ));
    pool.verified
        .lock()
        .expect("lock")
        .get_mut(&token)
        .expect("remembered")
        .insert("exp".into(), json!(now_secs() - 1));
    assert_eq!(
        pool.verify("Authorization", Some(&token)),
        Err(Refusal::Invalid("ExpiredSignature".into()))
    );
    assert!(!pool.verified.lock().expect("lock").contains_key(&token));
}

#[test]
fn pools_opened_at_once_in_one_directory_share_one_key_pair() {
    let dir =
        std::env::temp_dir().join(format!("local-auth-race-{}", crate::runtime::request_id()));
    let pools: Vec<LocalPool> = std::thread::scope(|scope| {
        let opening: Vec<_> = (0..3)
            .map(|_| scope.spawn(|| LocalPool::open(&dir).expect("a pool")))
            .collect();
        opening
            .into_iter()
            .map(|t| t.join().expect("opened"))
            .collect()
    });
    let token = pools[0]
        .mint(&Who::Staff, Duration::from_secs(60))
        .expect("token");
    for pool in &pools {
        pool.verify("Authorization", Some(&token))
            .expect("one key pair");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// amazon-cognito-identity-js#92: a REST authorizer's claims are strings,
/// times in the `Fri Jul 29 18:52:53 UTC 2016` form.
#[test]
fn rest_claims_are_strings_as_api_gateway_passes_them() {
    let claims: Map<String, Value> = serde_json::from_value(json!({
        "exp": 1_469_818_373,
        "email_verified": true,
        "cognito:groups": ["staff", "ops"],
        "custom:customerId": "CUST-1",
    }))
    .expect("claims");
    let strings = rest_claims(&claims);
    assert_eq!(strings["exp"], "Fri Jul 29 18:52:53 UTC 2016");
    assert_eq!(strings["email_verified"], "true");
    assert_eq!(strings["cognito:groups"], "staff,ops");
    assert_eq!(strings["custom:customerId"], "CUST-1");
}

#[test]
fn lifetimes_parse_and_nonsense_does_not() {
    assert_eq!(parse_lifetime("30s"), Ok(Duration::from_secs(30)));
    assert_eq!(parse_lifetime("60m"), Ok(Duration::from_secs(3600)));
    assert_eq!(parse_lifetime("12h"), Ok(Duration::from_secs(43_200)));
    assert_eq!(parse_lifetime("0"), Ok(Duration::ZERO));
    for bad in ["", "m", "10", "5d", "25h", "0s", "-1m"] {
        assert!(parse_lifetime(bad).is_err(), "{bad}");
    }
}
