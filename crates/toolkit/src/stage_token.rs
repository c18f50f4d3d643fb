//! `token --stage S`: an id token of a test user in a deployed stage's
//! user pool, through Cognito's admin API. The pool and its app client
//! come from the stack's outputs (`UserPoolId`, `UserPoolClientId`).
//!
//! A test user is made on first use (`AdminCreateUser`, no invitation
//! message; a customer with `custom:customerId`, staff added to the
//! `staff` group) and reused after. Each call sets a fresh random password
//! (`AdminSetUserPassword`, permanent) and signs in with it
//! (`AdminInitiateAuth`, `ADMIN_USER_PASSWORD_AUTH`, which the template's
//! app client allows), so no password is kept anywhere.

use aws_sdk_cognitoidentityprovider::Client;
use aws_sdk_cognitoidentityprovider::operation::admin_get_user::AdminGetUserError;
use aws_sdk_cognitoidentityprovider::types::{AttributeType, AuthFlowType, MessageActionType};

use crate::auth::{STAFF_GROUP, Who};
use crate::stage::{Remote, one_line_error};

/// The attribute a customer's id is kept in.
const CUSTOMER_ATTRIBUTE: &str = "custom:customerId";

/// A stage's user pool and the API's app client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagePool {
    pub pool_id: String,
    pub client_id: String,
}

impl StagePool {
    /// From the stack's outputs.
    pub async fn of(remote: &Remote, config: &aws_config::SdkConfig) -> Result<Self, String> {
        let outputs = remote
            .outputs(&aws_sdk_cloudformation::Client::new(config))
            .await?;
        Ok(Self {
            pool_id: remote
                .output(
                    &outputs,
                    "UserPoolId",
                    "--stage of a stack with a user pool",
                )?
                .to_owned(),
            client_id: remote
                .output(
                    &outputs,
                    "UserPoolClientId",
                    "--stage of a stack with a user pool",
                )?
                .to_owned(),
        })
    }
}

/// The test user's name for `who`.
pub fn username(who: &Who) -> String {
    match who {
        Who::Customer(id) => format!("orders-test-{}", id.to_ascii_lowercase()),
        Who::Staff => "orders-test-staff".to_owned(),
    }
}

/// A password for one sign-in: 32 random letters and digits, with the
/// classes the template's policy asks for.
fn one_time_password() -> Result<String, String> {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no system randomness: {e}"))?;
    let random: String = bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect();
    Ok(format!("{random}Aa7"))
}

/// An id token of the test user for `who` in `pool`, made first when it
/// does not exist.
/// The production stage, whose user pool holds real customers and staff.
pub const PRODUCTION: &str = "prod";

/// Whether a test user may be made in `stage`'s pool: in production only
/// when asked for in so many words (`--allow-prod`), since the user (a
/// member of staff, with `--staff`) stays there.
pub fn may_make_users_in(stage: &str, allow_prod: bool) -> Result<(), String> {
    if stage == PRODUCTION && !allow_prod {
        return Err(format!(
            "token --stage {PRODUCTION} makes a test user in production's user pool, which stays there; add --allow-prod if that is what you want"
        ));
    }
    Ok(())
}

pub async fn stage_token(client: &Client, pool: &StagePool, who: &Who) -> Result<String, String> {
    let name = username(who);
    let existing = client
        .admin_get_user()
        .user_pool_id(&pool.pool_id)
        .username(&name)
        .send()
        .await;
    match existing {
        Ok(user) => {
            if let Who::Customer(id) = who {
                let kept = user
                    .user_attributes()
                    .iter()
                    .find(|a| a.name() == CUSTOMER_ATTRIBUTE)
                    .and_then(AttributeType::value);
                if kept != Some(id.as_str()) {
                    return Err(format!(
                        "user {name} in {} is for customer {}, not {id} (customerId cannot change): delete the user, or use another id",
                        pool.pool_id,
                        kept.unwrap_or("none")
                    ));
                }
            }
        }
        Err(err)
            if matches!(
                err.as_service_error(),
                Some(AdminGetUserError::UserNotFoundException(_))
            ) =>
        {
            let mut create = client
                .admin_create_user()
                .user_pool_id(&pool.pool_id)
                .username(&name)
                .message_action(MessageActionType::Suppress);
            if let Who::Customer(id) = who {
                create = create.user_attributes(
                    AttributeType::builder()
                        .name(CUSTOMER_ATTRIBUTE)
                        .value(id)
                        .build()
                        .map_err(|e| e.to_string())?,
                );
            }
            create
                .send()
                .await
                .map_err(|e| one_line_error("Cognito AdminCreateUser", &e))?;
        }
        Err(err) => return Err(one_line_error("Cognito AdminGetUser", &err)),
    }
    if *who == Who::Staff {
        // Idempotent: adding a member again changes nothing.
        client
            .admin_add_user_to_group()
            .user_pool_id(&pool.pool_id)
            .username(&name)
            .group_name(STAFF_GROUP)
            .send()
            .await
            .map_err(|e| one_line_error("Cognito AdminAddUserToGroup", &e))?;
    }
    let password = one_time_password()?;
    client
        .admin_set_user_password()
        .user_pool_id(&pool.pool_id)
        .username(&name)
        .password(&password)
        .permanent(true)
        .send()
        .await
        .map_err(|e| one_line_error("Cognito AdminSetUserPassword", &e))?;
    let signed_in = client
        .admin_initiate_auth()
        .user_pool_id(&pool.pool_id)
        .client_id(&pool.client_id)
        .auth_flow(AuthFlowType::AdminUserPasswordAuth)
        .auth_parameters("USERNAME", &name)
        .auth_parameters("PASSWORD", &password)
        .send()
        .await
        .map_err(|e| one_line_error("Cognito AdminInitiateAuth", &e))?;
    if let Some(challenge) = signed_in.challenge_name() {
        return Err(format!(
            "Cognito asked {name} for {}: the pool wants more than a password (MFA?); a test user cannot answer",
            challenge.as_str()
        ));
    }
    signed_in
        .authentication_result()
        .and_then(|r| r.id_token())
        .map(str::to_owned)
        .ok_or_else(|| format!("Cognito signed {name} in but returned no id token"))
}

#[cfg(test)]
mod tests {
    use aws_sdk_cognitoidentityprovider::operation::admin_add_user_to_group::AdminAddUserToGroupOutput;
    use aws_sdk_cognitoidentityprovider::operation::admin_create_user::AdminCreateUserOutput;
    use aws_sdk_cognitoidentityprovider::operation::admin_get_user::AdminGetUserOutput;
    use aws_sdk_cognitoidentityprovider::operation::admin_initiate_auth::AdminInitiateAuthOutput;
    use aws_sdk_cognitoidentityprovider::operation::admin_set_user_password::AdminSetUserPasswordOutput;
    use aws_sdk_cognitoidentityprovider::types::error::UserNotFoundException;
    use aws_sdk_cognitoidentityprovider::types::{AuthenticationResultType, ChallengeNameType};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    use super::*;

    fn pool() -> StagePool {
        StagePool {
            pool_id: "eu-west-1_Abc".into(),
            client_id: "client123".into(),
        }
    }

    fn not_found() -> aws_smithy_mocks::Rule {
        mock!(Client::admin_get_user).then_error(|| {
            AdminGetUserError::UserNotFoundException(
                UserNotFoundException::builder()
                    .message("User does not exist.")
                    .build(),
            )
        })
    }

    fn signed_in() -> aws_smithy_mocks::Rule {
        mock!(Client::admin_initiate_auth)
            .match_requests(|r| {
                r.auth_flow() == Some(&AuthFlowType::AdminUserPasswordAuth)
                    && r.client_id() == Some("client123")
                    && r.auth_parameters().is_some_and(|p| {
                        p.get("USERNAME").map(String::as_str) == Some("orders-test-cust-001")
                            && p.get("PASSWORD").is_some_and(|pw| pw.len() == 35)
                    })
            })
            .then_output(|| {
                AdminInitiateAuthOutput::builder()
                    .authentication_result(
                        AuthenticationResultType::builder()
                            .id_token("header.claims.signature")
                            .build(),
                    )
                    .build()
            })
    }

    fn staff_exists() -> aws_smithy_mocks::Rule {
        mock!(Client::admin_get_user).then_output(|| {
            AdminGetUserOutput::builder()
                .username("orders-test-staff")
                .build()
                .unwrap()
        })
    }

    fn password_set() -> aws_smithy_mocks::Rule {
        mock!(Client::admin_set_user_password)
            .match_requests(|r| r.permanent() == Some(true))
            .then_output(|| AdminSetUserPasswordOutput::builder().build())
    }

    #[tokio::test]
    async fn a_new_customer_is_made_with_its_id_then_signed_in() {
        let missing = not_found();
        let created = mock!(Client::admin_create_user)
            .match_requests(|r| {
                r.username() == Some("orders-test-cust-001")
                    && r.message_action() == Some(&MessageActionType::Suppress)
                    && r.user_attributes()
                        .iter()
                        .any(|a| a.name() == "custom:customerId" && a.value() == Some("CUST-001"))
            })
            .then_output(|| AdminCreateUserOutput::builder().build());
        let (password, auth) = (password_set(), signed_in());
        let client = mock_client!(
            aws_sdk_cognitoidentityprovider,
            RuleMode::MatchAny,
            &[&missing, &created, &password, &auth]
        );
        let token = stage_token(&client, &pool(), &Who::Customer("CUST-001".into()))
            .await
            .unwrap();
        assert_eq!(token, "header.claims.signature");
        assert_eq!(created.num_calls(), 1);
        assert_eq!(password.num_calls(), 1);
        assert_eq!(auth.num_calls(), 1);
    }

    #[tokio::test]
    async fn an_existing_user_is_reused_and_staff_join_the_staff_group() {
        let existing = staff_exists();
        let grouped = mock!(Client::admin_add_user_to_group)
            .match_requests(|r| r.group_name() == Some("staff"))
            .then_output(|| AdminAddUserToGroupOutput::builder().build());
        let password = password_set();
        let auth = mock!(Client::admin_initiate_auth).then_output(|| {
            AdminInitiateAuthOutput::builder()
                .authentication_result(AuthenticationResultType::builder().id_token("t").build())
                .build()
        });
        let created = mock!(Client::admin_create_user)
            .then_output(|| AdminCreateUserOutput::builder().build());
        let client = mock_client!(
            aws_sdk_cognitoidentityprovider,
            RuleMode::MatchAny,
            &[&existing, &grouped, &password, &auth, &created]
        );
        assert_eq!(
            stage_token(&client, &pool(), &Who::Staff).await.unwrap(),
            "t"
        );
        assert_eq!(created.num_calls(), 0);
        assert_eq!(grouped.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_user_kept_for_another_customer_is_refused_before_any_password_is_set() {
        let existing = mock!(Client::admin_get_user).then_output(|| {
            AdminGetUserOutput::builder()
                .username("orders-test-cust-001")
                .user_attributes(
                    AttributeType::builder()
                        .name("custom:customerId")
                        .value("CUST-999")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap()
        });
        let password = password_set();
        let client = mock_client!(
            aws_sdk_cognitoidentityprovider,
            RuleMode::MatchAny,
            &[&existing, &password]
        );
        let err = stage_token(&client, &pool(), &Who::Customer("CUST-001".into()))
            .await
            .unwrap_err();
        assert!(
            err.contains("is for customer CUST-999, not CUST-001"),
            "{err}"
        );
        assert_eq!(password.num_calls(), 0);
    }

    #[tokio::test]
    async fn a_challenge_instead_of_tokens_is_said_plainly() {
        let existing = staff_exists();
        let grouped = mock!(Client::admin_add_user_to_group)
            .then_output(|| AdminAddUserToGroupOutput::builder().build());
        let password = password_set();
        let challenged = mock!(Client::admin_initiate_auth).then_output(|| {
            AdminInitiateAuthOutput::builder()
                .challenge_name(ChallengeNameType::SoftwareTokenMfa)
                .build()
        });
        let client = mock_client!(
            aws_sdk_cognitoidentityprovider,
            RuleMode::MatchAny,
            &[&existing, &grouped, &password, &challenged]
        );
        let err = stage_token(&client, &pool(), &Who::Staff)
            .await
            .unwrap_err();
        assert!(err.contains("SOFTWARE_TOKEN_MFA"), "{err}");
    }

    #[test]
    fn passwords_meet_the_templates_policy_and_differ() {
        let (a, b) = (one_time_password().unwrap(), one_time_password().unwrap());
        assert_ne!(a, b);
        assert!(a.len() >= 14);
        assert!(a.chars().any(|c| c.is_ascii_uppercase()));
        assert!(a.chars().any(|c| c.is_ascii_lowercase()));
        assert!(a.chars().any(|c| c.is_ascii_digit()));
    }

    #[test]
    fn production_needs_allow_prod_and_other_stages_do_not() {
        let refused = may_make_users_in("prod", false).unwrap_err();
        assert!(refused.contains("--allow-prod"), "{refused}");
        assert_eq!(may_make_users_in("prod", true), Ok(()));
        assert_eq!(may_make_users_in("dev", false), Ok(()));
        assert_eq!(may_make_users_in("staging", false), Ok(()));
    }
}
