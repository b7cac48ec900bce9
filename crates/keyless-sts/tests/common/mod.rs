//! An in-process STS: a compiled state with a GitLab-shaped provider, roles for every trust
//! path, an admin key and a sealing keyring, plus real ID tokens from a real RSA key and real
//! SigV4 signatures. Shared by the API tests and the stage benchmark.

#![allow(dead_code)]

use std::collections::HashMap;

use http::{HeaderMap, HeaderValue};
use keyless_credentials::session::{SealingKeyring, generate_sealing_key};
use keyless_credentials::sigv4::{self, RequestParts};
use keyless_oidc::issuer::{IssuerKeyring, MintRequest, SigningKey, mint};
use keyless_oidc::jwks::JwkSet;
use keyless_oidc::verify::VerifyOptions;
use keyless_sts::Error;
use keyless_sts::assume_role::{AssumeRoleGrant, AssumeRoleParams};
use keyless_sts::auth::{self, Caller};
use keyless_sts::context::RequestEnv;
use keyless_sts::model::{
    ConditionKeyMode, KeySource, ManagedBy, ManagedPolicy, OidcProvider, PolicyVersion, Role,
    RolePolicy,
};
use keyless_sts::query::QueryParams;
use keyless_sts::state::{LongTermKey, StateInputs, StsOptions, StsState};
use keyless_sts::web_identity::{self, Grant, WebIdentityParams};

/// The fixture's clock, Unix seconds.
pub const NOW: i64 = 1_795_635_000;
/// The account.
pub const ACCOUNT: &str = "000000000000";
/// The provider's issuer URL.
pub const ISSUER: &str = "https://gitlab.com";
/// The provider's one client ID.
pub const AUDIENCE: &str = "https://gitlab.com";
/// The provider's ARN.
pub const PROVIDER_ARN: &str = "arn:aws:iam::000000000000:oidc-provider/gitlab.com";
/// The project the deployer role trusts.
pub const PROJECT: &str = "example/project";
/// The admin key pair.
pub const ADMIN_KEY_ID: &str = "AKIAEXAMPLEADMIN0001";
/// See [`ADMIN_KEY_ID`].
pub const ADMIN_SECRET: &str = "admin-secret-admin-secret-admin-secret00";

/// The role `keyless serve --dev` creates: `aud` and `sub like project_path:example/project:*`.
pub const DEPLOYER: &str = "gitlab-deployer";
/// Trusts the provider for the exchange and for `sts:TagSession`.
pub const TAGGED: &str = "tagged";
/// Trusts the provider for project `other/project` only.
pub const CLOSED: &str = "closed";
/// Trusts the provider, but explicitly denies the `main` branch.
pub const NO_MAIN: &str = "no-main";
/// Trusts the deployer role by name for `sts:AssumeRole` only (not `sts:TagSession`).
pub const NAMED: &str = "named";
/// Trusts the whole account for `sts:AssumeRole`: the caller's own permissions must allow it.
pub const ACCOUNT_WIDE: &str = "account-wide";

/// A managed policy that allows `s3:GetObject` only.
pub const READ_OBJECTS_ARN: &str = "arn:aws:iam::000000000000:policy/read-objects";

/// The role ARN of `name`.
pub fn role_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/{name}")
}

fn federated_trust(actions: &str, conditions: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"Exchange","Effect":"Allow",
            "Principal":{{"Federated":"{PROVIDER_ARN}"}},"Action":{actions},
            "Condition":{conditions}}}]}}"#
    )
}

fn role(name: &str, trust_policy: String) -> Role {
    Role {
        name: name.to_owned(),
        path: "/".to_owned(),
        role_id: format!("AROA{:0>17}", name.len()),
        trust_policy,
        description: None,
        max_session_duration: 3600,
        permissions_boundary: None,
        tags: Vec::new(),
        created: NOW,
        managed_by: ManagedBy::Config,
    }
}

/// Everything the in-process STS needs.
pub struct Fixture {
    /// The compiled state.
    pub state: StsState,
    /// The issuer's signing key.
    pub issuer_key: SigningKey,
    /// The issuer's JWKS, as the key cache would hold it.
    pub jwks: JwkSet,
    /// The request environment of every call.
    pub env: RequestEnv,
}

impl Fixture {
    /// The fixture with AWS's opaque denials.
    pub fn new() -> Fixture {
        Fixture::with_options(StsOptions::default())
    }

    /// The fixture with `options`.
    pub fn with_options(options: StsOptions) -> Fixture {
        let issuer_key = SigningKey::generate().expect("RSA-2048 key generation");
        let jwks_json = IssuerKeyring::new(
            SigningKey::from_pkcs8_der(&issuer_key.to_pkcs8_der()).expect("the key round-trips"),
            Vec::new(),
        )
        .jwks()
        .to_string();
        let jwks = JwkSet::parse(jwks_json.as_bytes()).expect("the issuer's JWKS parses");
        let provider = OidcProvider {
            url: ISSUER.to_owned(),
            client_ids: vec![AUDIENCE.to_owned()],
            thumbprints: Vec::new(),
            key_source: KeySource::Pinned { jwks: jwks_json },
            condition_keys: ConditionKeyMode::All,
            allow_insecure_http: false,
            ca_bundle: None,
            tags: Vec::new(),
            created: NOW,
            managed_by: ManagedBy::Config,
        };
        let aud = format!(r#""StringEquals":{{"gitlab.com:aud":"{AUDIENCE}"}}"#);
        let roles = vec![
            role(
                DEPLOYER,
                federated_trust(
                    r#""sts:AssumeRoleWithWebIdentity""#,
                    &format!(
                        r#"{{{aud},"StringLike":{{"gitlab.com:sub":"project_path:{PROJECT}:*"}}}}"#
                    ),
                ),
            ),
            role(
                TAGGED,
                federated_trust(
                    r#"["sts:AssumeRoleWithWebIdentity","sts:TagSession"]"#,
                    &format!("{{{aud}}}"),
                ),
            ),
            role(
                CLOSED,
                federated_trust(
                    r#""sts:AssumeRoleWithWebIdentity""#,
                    &format!(
                        r#"{{{aud},"StringLike":{{"gitlab.com:sub":["project_path:other/project:*","project_path:example/proj:*"]}}}}"#
                    ),
                ),
            ),
            role(
                NO_MAIN,
                format!(
                    r#"{{"Version":"2012-10-17","Statement":[
                    {{"Sid":"Exchange","Effect":"Allow","Principal":{{"Federated":"{PROVIDER_ARN}"}},
                      "Action":"sts:AssumeRoleWithWebIdentity"}},
                    {{"Sid":"NoMain","Effect":"Deny","Principal":"*","Action":"*",
                      "Condition":{{"StringEquals":{{"gitlab.com:ref":"main"}}}}}}]}}"#
                ),
            ),
            role(
                NAMED,
                format!(
                    r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"Deployer","Effect":"Allow",
                    "Principal":{{"AWS":"{}"}},"Action":"sts:AssumeRole"}}]}}"#,
                    role_arn(DEPLOYER)
                ),
            ),
            role(
                ACCOUNT_WIDE,
                format!(
                    r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"Account","Effect":"Allow",
                    "Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"sts:AssumeRole"}}]}}"#
                ),
            ),
        ];
        let role_policies = vec![RolePolicy {
            role_name: DEPLOYER.to_owned(),
            policy_name: "read-only".to_owned(),
            document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
                "Action":["sts:GetCallerIdentity","iam:Get*","iam:List*"],"Resource":"*"}]}"#
                .to_owned(),
        }];
        let keyring =
            SealingKeyring::new(generate_sealing_key(1, NOW), Vec::new()).expect("keyring");
        let state = StsState::build(StateInputs {
            account: ACCOUNT,
            providers: &[provider],
            roles: &roles,
            role_policies: &role_policies,
            managed_policies: &[ManagedPolicy {
                name: "read-objects".to_owned(),
                path: "/".to_owned(),
                policy_id: "ANPAAAAAAAAAAAAAAAAAA".to_owned(),
                description: None,
                versions: vec![PolicyVersion {
                    version_id: "v1".to_owned(),
                    document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
                        "Action":"s3:GetObject","Resource":"*"}]}"#
                        .to_owned(),
                    is_default: true,
                    created: NOW,
                }],
                tags: Vec::new(),
                created: NOW,
                updated: NOW,
                managed_by: ManagedBy::Api,
            }],
            attachments: &[],
            builtin_jwks: &HashMap::new(),
            keyring,
            admin: Some(LongTermKey {
                access_key_id: ADMIN_KEY_ID.to_owned(),
                secret_access_key: ADMIN_SECRET.to_owned(),
            }),
            options: StsOptions {
                verify: VerifyOptions::default(),
                ..options
            },
        });
        assert!(state.warnings.is_empty(), "{:?}", state.warnings);
        Fixture {
            state,
            issuer_key,
            jwks,
            env: RequestEnv {
                source_ip: Some("127.0.0.1".to_owned()),
                user_agent: Some("aws-cli/2.17.0 md/Botocore#1.35.0".to_owned()),
                secure_transport: false,
            },
        }
    }

    /// A GitLab ID token for `project` on branch `git_ref`, issued 5 s ago; `tweak` may change
    /// the mint request first.
    pub fn token_with(
        &self,
        project: &str,
        git_ref: &str,
        tweak: impl FnOnce(MintRequest) -> MintRequest,
    ) -> String {
        let req = MintRequest::gitlab(ISSUER, project, git_ref)
            .with_audience(AUDIENCE)
            .with_now(NOW - 5);
        mint(&self.issuer_key, &tweak(req)).expect("mint a GitLab ID token")
    }

    /// A GitLab ID token for `project` on branch `git_ref`.
    pub fn token(&self, project: &str, git_ref: &str) -> String {
        self.token_with(project, git_ref, |r| r)
    }

    /// The form body of an `AssumeRoleWithWebIdentity` call for `role` with `token`, and the
    /// `extra` parameters.
    pub fn exchange_body(&self, role: &str, token: &str, extra: &[(&str, &str)]) -> Vec<u8> {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("Action", "AssumeRoleWithWebIdentity")
            .append_pair("Version", "2011-06-15")
            .append_pair("RoleArn", &role_arn(role))
            .append_pair("RoleSessionName", "gitlab-job-4000000")
            .append_pair("WebIdentityToken", token);
        for (k, v) in extra {
            form.append_pair(k, v);
        }
        form.finish().into_bytes()
    }

    /// The whole exchange of `body` at `now`, as the server runs it: parse, validate, choose the
    /// provider, find the key, verify, decide, mint.
    pub fn exchange_at(&self, body: &[u8], now: i64) -> Result<Grant, Error> {
        let query = QueryParams::parse("", body)?;
        let params = WebIdentityParams::from_query(&query)?;
        let prepared = web_identity::prepare(&self.state, &params)?;
        let key = self
            .jwks
            .find(prepared.jwt.header.kid.as_deref(), prepared.jwt.header.alg)?;
        web_identity::complete(&self.state, &params, prepared, &key, now, &self.env)
    }

    /// [`Fixture::exchange_at`] at [`NOW`].
    pub fn exchange(&self, body: &[u8]) -> Result<Grant, Error> {
        self.exchange_at(body, NOW)
    }

    /// A session of the deployer role, minted by a real exchange.
    pub fn deployer_session(&self) -> Credentials {
        let token = self.token(PROJECT, "main");
        let grant = self
            .exchange(&self.exchange_body(DEPLOYER, &token, &[]))
            .expect("the deployer exchange is allowed");
        Credentials::of(&grant.minted)
    }

    /// The admin credentials.
    pub fn admin(&self) -> Credentials {
        Credentials {
            access_key_id: ADMIN_KEY_ID.to_owned(),
            secret_access_key: ADMIN_SECRET.to_owned(),
            session_token: None,
        }
    }

    /// `body` POSTed to `/` and signed for `service` with `creds` at `at`: the headers.
    pub fn signed_headers(
        &self,
        creds: &Credentials,
        service: &str,
        body: &[u8],
        at: i64,
    ) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("sts.example"));
        headers.insert(
            "content-type",
            HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"),
        );
        headers.insert(
            "x-amz-date",
            HeaderValue::from_str(&sigv4::amz_date(at)).expect("a header value"),
        );
        if let Some(token) = &creds.session_token {
            headers.insert(
                "x-amz-security-token",
                HeaderValue::from_str(token).expect("a header value"),
            );
        }
        let authorization = sigv4::sign(
            &RequestParts {
                method: "POST",
                path: "/",
                query: "",
                headers: &headers,
                body,
            },
            &creds.access_key_id,
            &creds.secret_access_key,
            "us-east-1",
            service,
        )
        .expect("sign");
        headers.insert(
            "authorization",
            HeaderValue::from_str(&authorization).expect("a header value"),
        );
        headers
    }

    /// Authenticates `body` signed by `creds` for `service`, as the server does.
    pub fn authenticate(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        service: &str,
        now: i64,
    ) -> Result<Caller, Error> {
        auth::authenticate(
            &self.state,
            &RequestParts {
                method: "POST",
                path: "/",
                query: "",
                headers,
                body,
            },
            service,
            now,
        )
    }

    /// A signed `AssumeRole` by `creds` with the form `params`, at `now`.
    pub fn assume_role_at(
        &self,
        creds: &Credentials,
        params: &[(&str, &str)],
        now: i64,
    ) -> Result<AssumeRoleGrant, Error> {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("Action", "AssumeRole")
            .append_pair("Version", "2011-06-15");
        for (k, v) in params {
            form.append_pair(k, v);
        }
        let body = form.finish().into_bytes();
        let headers = self.signed_headers(creds, "sts", &body, now);
        let caller = self.authenticate(&headers, &body, "sts", now)?;
        let query = QueryParams::parse("", &body)?;
        let params = AssumeRoleParams::from_query(&query)?;
        keyless_sts::assume_role::assume_role(&self.state, &caller, &params, now, &self.env)
    }

    /// [`Fixture::assume_role_at`] at [`NOW`].
    pub fn assume_role(
        &self,
        creds: &Credentials,
        params: &[(&str, &str)],
    ) -> Result<AssumeRoleGrant, Error> {
        self.assume_role_at(creds, params, NOW)
    }
}

/// A key pair, with a session token for temporary credentials.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// `ASIA…` or `AKIA…`.
    pub access_key_id: String,
    /// The secret.
    pub secret_access_key: String,
    /// The session token of temporary credentials.
    pub session_token: Option<String>,
}

impl Credentials {
    /// The credentials an exchange minted.
    pub fn of(minted: &keyless_sts::Minted) -> Credentials {
        Credentials {
            access_key_id: minted.access_key_id.clone(),
            secret_access_key: minted.secret_access_key.clone(),
            session_token: Some(minted.session_token.clone()),
        }
    }
}
