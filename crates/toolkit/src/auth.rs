//! `auth`: a local Cognito user pool. It mints id tokens shaped as
//! Cognito's (RS256; `sub`, `cognito:username`, `custom:customerId`,
//! `cognito:groups`, `token_use: id`, `aud` = the local app client, `iss`,
//! `iat`, `auth_time`, `exp`) with a key pair it makes under
//! `target/local-auth/` on first use (with `openssl`), and checks them as
//! API Gateway's authorizers do: signature, expiry, audience, issuer and
//! `token_use`; anything else is refused before any function runs.
//!
//! The claims reach the function as API Gateway passes them: a REST API's
//! Cognito authorizer under `requestContext.authorizer.claims`, every
//! value a string (`exp` as `Fri Jul 29 18:52:53 UTC 2016`); an HTTP API's
//! JWT authorizer under `requestContext.authorizer.jwt.claims`.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Map, Value, json};

/// The local app client's id: the `aud` of every local token.
pub const LOCAL_CLIENT_ID: &str = "localclient0000000000000000";
/// The local pool's id, in Cognito's `region_id` shape.
pub const LOCAL_POOL_ID: &str = "us-east-1_local";
/// The group whose members are staff.
pub const STAFF_GROUP: &str = "staff";

/// Who a token is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    Customer(String),
    Staff,
}

/// Why a token was refused (logged; the caller gets only 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("no token in the {0} header")]
    Missing(String),
    #[error("the token does not verify: {0}")]
    Invalid(String),
    #[error("token_use is {0:?}, not \"id\"")]
    NotAnIdToken(String),
}

/// How many verified tokens the pool remembers before it starts over.
const VERIFIED_CAPACITY: usize = 4096;

/// The local pool: its keys and names.
#[derive(Clone)]
pub struct LocalPool {
    encoding: EncodingKey,
    decoding: DecodingKey,
    issuer: String,
    /// Tokens whose signature, audience, issuer and `token_use` have been
    /// checked, with their claims: API Gateway caches a user pool
    /// authorizer's result for the token too (`AuthorizerResultTtlInSeconds`,
    /// 300 s by default), and an RS256 check on every request is most of
    /// a local request's cost. A token's expiry is still checked on every
    /// use, so an expired token is refused as soon as it expires.
    verified:
        std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, Map<String, Value>>>>,
}

impl std::fmt::Debug for LocalPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalPool")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Runs `openssl args…`; its error output on failure.
fn openssl(args: &[&str]) -> Result<(), String> {
    let output = std::process::Command::new("openssl")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run openssl to make the local pool's key: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "openssl {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

impl LocalPool {
    /// The pool whose keys are in `dir` (`target/local-auth`), made there
    /// on first use.
    pub fn open(dir: &Path) -> Result<Self, String> {
        let private = dir.join("key.pem");
        let public = dir.join("public.pem");
        if !private.is_file() || !public.is_file() {
            make_key_pair(dir, &private, &public)?;
        }
        let read = |p: &Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
        let encoding = EncodingKey::from_rsa_pem(&read(&private)?)
            .map_err(|e| format!("{}: {e}", private.display()))?;
        let decoding = DecodingKey::from_rsa_pem(&read(&public)?)
            .map_err(|e| format!("{}: {e}", public.display()))?;
        Ok(Self {
            encoding,
            decoding,
            issuer: local_issuer(),
            verified: std::sync::Arc::default(),
        })
    }

    /// An id token for `who`, valid for `lifetime` (a zero lifetime gives
    /// one that has already expired).
    pub fn mint(&self, who: &Who, lifetime: Duration) -> Result<String, String> {
        let now = now_secs();
        // Expired a second ago for a zero lifetime.
        let exp = (now + lifetime.as_secs()).saturating_sub(u64::from(lifetime.is_zero()));
        let claims = id_token_claims(who, &self.issuer, now, exp);
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("local".to_owned());
        jsonwebtoken::encode(&header, &claims, &self.encoding).map_err(|e| e.to_string())
    }

    /// The claims of a valid id token in `header_value` (`Bearer` prefix
    /// optional, as a REST API's Cognito authorizer takes both the bare
    /// token and `Bearer <id token>`, which aws-amplify/docs#1137 sends),
    /// as the authorizer passes them on.
    pub fn verify(
        &self,
        header: &str,
        header_value: Option<&str>,
    ) -> Result<Map<String, Value>, Refusal> {
        let token = header_value
            .map(str::trim)
            .map(|v| match v.split_once(' ') {
                Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
                _ if v.eq_ignore_ascii_case("bearer") => "",
                _ => v,
            })
            .filter(|v| !v.is_empty())
            .ok_or_else(|| Refusal::Missing(header.to_owned()))?;
        let mut verified = self
            .verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(claims) = verified.get(token) {
            let exp = claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
            // jsonwebtoken's rule with no leeway: expired once `exp` is past.
            return if exp < now_secs() {
                verified.remove(token);
                Err(Refusal::Invalid("ExpiredSignature".to_owned()))
            } else {
                Ok(claims.clone())
            };
        }
        drop(verified);
        let claims = self.check(token)?;
        let mut verified = self
            .verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if verified.len() >= VERIFIED_CAPACITY {
            verified.clear();
        }
        verified.insert(token.to_owned(), claims.clone());
        Ok(claims)
    }

    /// The claims of `token` after the full check: RS256 signature with
    /// the pool's key, audience, issuer, expiry and `token_use`.
    fn check(&self, token: &str) -> Result<Map<String, Value>, Refusal> {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[LOCAL_CLIENT_ID]);
        validation.set_issuer(&[&self.issuer]);
        validation.leeway = 0;
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &self.decoding, &validation)
            .map_err(|e| Refusal::Invalid(e.to_string()))?;
        let claims = data.claims;
        match claims.get("token_use").and_then(Value::as_str) {
            Some("id") => Ok(claims),
            other => Err(Refusal::NotAnIdToken(other.unwrap_or_default().to_owned())),
        }
    }
}

/// Makes the pool's key pair in `dir` unless another process made it
/// first: the key is made under a lock on `dir/.lock`, so that processes
/// starting at once (tests, a server and `token`) end with one pair, never
/// one process's private key beside another's public key.
fn make_key_pair(dir: &Path, private: &Path, public: &Path) -> Result<(), String> {
    let failed = |e: std::io::Error| format!("{}: {e}", dir.display());
    std::fs::create_dir_all(dir).map_err(failed)?;
    let lock = std::fs::File::create(dir.join(".lock")).map_err(failed)?;
    lock.lock().map_err(failed)?;
    if private.is_file() && public.is_file() {
        return Ok(());
    }
    // Written under other names and renamed, so that a reader that takes
    // no lock never sees half a key.
    let partial = dir.join(format!("key.pem.{}", std::process::id()));
    let partial_public = dir.join(format!("public.pem.{}", std::process::id()));
    let path = |p: &PathBuf| p.to_string_lossy().into_owned();
    openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        &path(&partial),
    ])?;
    openssl(&[
        "pkey",
        "-in",
        &path(&partial),
        "-pubout",
        "-out",
        &path(&partial_public),
    ])?;
    std::fs::rename(&partial_public, public)
        .and_then(|()| std::fs::rename(&partial, private))
        .map_err(failed)
}

/// A pool for tests, kept under `target/test-auth/TAG`: its key is made
/// once for the target directory, not once per test.
#[cfg(test)]
pub(crate) fn test_pool_dir(tag: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/test-auth")
        .join(tag)
}

/// The local pool's issuer (`iss`): Cognito's issuer URL for the pool in
/// the local cloud's region (`AWS_REGION`, else us-east-1), as the
/// template's `https://cognito-idp.${AWS::Region}.${AWS::URLSuffix}/${UserPool}`
/// resolves locally.
pub fn local_issuer() -> String {
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".to_owned());
    format!("https://cognito-idp.{region}.amazonaws.com/{LOCAL_POOL_ID}")
}

/// The claims Cognito puts in an id token of `who`, issued at `iat`
/// (seconds) and expiring at `exp`.
pub fn id_token_claims(who: &Who, issuer: &str, iat: u64, exp: u64) -> Map<String, Value> {
    let username = match who {
        Who::Customer(id) => id.to_ascii_lowercase(),
        Who::Staff => "staff-user".to_owned(),
    };
    let mut claims = json!({
        "sub": stable_uuid(&username),
        "cognito:username": username,
        "aud": LOCAL_CLIENT_ID,
        "iss": issuer,
        "token_use": "id",
        "auth_time": iat,
        "iat": iat,
        "exp": exp,
        "email_verified": true,
    });
    match who {
        Who::Customer(id) => claims["custom:customerId"] = json!(id),
        Who::Staff => claims["cognito:groups"] = json!([STAFF_GROUP]),
    }
    match claims {
        Value::Object(map) => map,
        _ => unreachable!("built as an object"),
    }
}

/// `requestContext.authorizer` of a REST event whose Cognito authorizer
/// let a token with `claims` in.
pub fn rest_authorizer(claims: &Map<String, Value>) -> Value {
    json!({"claims": rest_claims(claims)})
}

/// `requestContext.authorizer` of an HTTP API event whose JWT authorizer
/// let a token with `claims` in.
pub fn jwt_authorizer(claims: &Map<String, Value>) -> Value {
    json!({"jwt": {"claims": jwt_claims(claims), "scopes": null}})
}

/// A UUID-shaped id that is the same for the same name (Cognito's `sub`
/// does not change between a user's tokens).
fn stable_uuid(name: &str) -> String {
    // FNV-1a, twice with different seeds, for 128 bits.
    let hash = |seed: u64| {
        name.bytes().fold(seed, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    let hex = format!(
        "{:016x}{:016x}",
        hash(0xcbf2_9ce4_8422_2325),
        hash(0x8422_2325_cbf2_9ce4)
    );
    crate::runtime::uuid_shape(&hex)
}

/// The claims as a REST API's Cognito authorizer passes them: every value
/// a string, times as `Fri Jul 29 18:52:53 UTC 2016`, lists joined by
/// commas (⚠ the documented examples disagree on that format).
pub fn rest_claims(claims: &Map<String, Value>) -> Map<String, Value> {
    claims
        .iter()
        .map(|(name, value)| {
            let text = match (name.as_str(), value) {
                ("exp" | "iat" | "auth_time", Value::Number(n)) => n
                    .as_i64()
                    .and_then(|secs| chrono::DateTime::from_timestamp(secs, 0))
                    .map_or_else(
                        || n.to_string(),
                        |t| t.format("%a %b %d %H:%M:%S UTC %Y").to_string(),
                    ),
                (_, Value::String(s)) => s.clone(),
                (_, Value::Array(items)) => items
                    .iter()
                    .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                    .collect::<Vec<_>>()
                    .join(","),
                (_, other) => other.to_string(),
            };
            (name.clone(), Value::String(text))
        })
        .collect()
}

/// The claims as an HTTP API's JWT authorizer passes them: strings, with
/// numbers as their digits and lists as `[a b]`.
pub fn jwt_claims(claims: &Map<String, Value>) -> Map<String, Value> {
    claims
        .iter()
        .map(|(name, value)| {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Array(items) => format!(
                    "[{}]",
                    items
                        .iter()
                        .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
                other => other.to_string(),
            };
            (name.clone(), Value::String(text))
        })
        .collect()
}

/// Replaces every `{{resolve:secretsmanager:ID…}}` in the functions'
/// environment with the local value of secret `ID`: 64 random hex
/// characters made under `dir/secrets/` on first use and kept there, so a
/// restart keeps what was signed with it valid (cursors). An ARN as `ID`
/// is read for its name.
pub fn resolve_local_secrets(
    functions: &mut [crate::model::FunctionSpec],
    dir: &Path,
) -> Result<(), String> {
    const OPEN: &str = "{{resolve:secretsmanager:";
    for spec in functions {
        for value in spec.environment.values_mut() {
            while let Some(start) = value.find(OPEN) {
                let rest = &value[start + OPEN.len()..];
                let end = rest.find("}}").ok_or_else(|| {
                    format!("{}: an unclosed dynamic reference: {value}", spec.id)
                })?;
                let reference = &rest[..end];
                let id = match reference.split_once(":secret:") {
                    Some((_, after_arn)) => after_arn.split(':').next().unwrap_or_default(),
                    None => reference.split(':').next().unwrap_or_default(),
                };
                let secret = local_secret(dir, id)?;
                value.replace_range(start..start + OPEN.len() + end + 2, &secret);
            }
        }
    }
    Ok(())
}

/// The local value of secret `id` (made on first use).
fn local_secret(dir: &Path, id: &str) -> Result<String, String> {
    if id.is_empty() {
        return Err("a secretsmanager dynamic reference names no secret".to_owned());
    }
    let file: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let path = dir.join("secrets").join(file);
    if let Ok(text) = std::fs::read_to_string(&path) {
        return Ok(text.trim().to_owned());
    }
    let parent = dir.join("secrets");
    std::fs::create_dir_all(&parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no system randomness: {e}"))?;
    let value: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let partial = path.with_extension(format!("partial-{}", std::process::id()));
    std::fs::write(&partial, &value)
        .and_then(|()| std::fs::rename(&partial, &path))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    // Two first uses at once: both read what the rename left.
    std::fs::read_to_string(&path)
        .map(|text| text.trim().to_owned())
        .map_err(|e| format!("{}: {e}", path.display()))
}

pub const USAGE: &str = "\
token: print an id token: from the local user pool, for the local cloud's
authorizers, or from a deployed stage's user pool

Usage:
  token --customer ID [--expires 60m]
  token --staff [--expires 60m]
  token --stage STAGE (--customer ID | --staff) [--endpoint-url URL]
        [--allow-prod]

  --customer      a customer's token: custom:customerId is ID
  --staff         a staff member's token: cognito:groups is [staff]
  --expires       how long a local token is valid: 30s, 60m, 12h, or 0 for
                  one that has already expired (default 60m)
  --stage         the stage whose user pool signs the token (its stack's
                  outputs UserPoolId and UserPoolClientId): a test user
                  orders-test-<id> (or orders-test-staff) is made there on
                  first use with Cognito's admin API, given a fresh random
                  password and signed in; AWS credentials from the usual
                  chain
  --endpoint-url  send the stage's AWS calls there instead
  --allow-prod    needed with --stage prod: the test user it makes (staff,
                  with --staff) stays in production's user pool until
                  someone deletes it

A local token is signed (RS256) with a key made under target/local-auth on
first use; the local gateway accepts it where the template names a Cognito
user pool or JWT authorizer, as `Authorization: Bearer TOKEN`:

  curl -H \"Authorization: Bearer $(cargo xtask token --customer CUST-001)\" ...
";

/// Reads `30s`, `60m`, `12h` or `0`.
pub fn parse_lifetime(text: &str) -> Result<Duration, String> {
    let bad = || format!("--expires takes 30s, 60m, 12h or 0, not {text:?}");
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let secs = crate::duration::parse(text, "smh")
        .ok_or_else(bad)?
        .as_secs();
    if secs == 0 || secs > 24 * 3600 {
        return Err(format!("--expires takes up to 24h, not {text:?}"));
    }
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
#[path = "auth_tests.rs"]
mod tests;
