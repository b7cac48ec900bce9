//! The outbound fixture shared by the `GetWebIdentityToken` tests and benchmark: the common
//! fixture plus a role allowed to get tokens under conditions on every key, and an outbound
//! keyring of both algorithms.

#![allow(dead_code)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyless_oidc::jwks::JwkSet;
use keyless_oidc::jwt;
use keyless_oidc::outbound::{OutboundKey, OutboundKeyring, SigningAlgorithm};
use keyless_sts::Error;
use keyless_sts::auth::Caller;
use keyless_sts::model::{ManagedBy, Role, RolePolicy};
use keyless_sts::query::QueryParams;
use keyless_sts::state::{RoleInput, StateUpdate};
use keyless_sts::web_identity_token::{self, Outbound, TokenParams};
use serde_json::Value;

use crate::common::{AUDIENCE, Credentials, Fixture, NOW, PROJECT, PROVIDER_ARN};

pub const VENDOR: &str = "token-vendor";
pub const ISSUER_URL: &str = "https://sts.example.com/outbound";

const VENDOR_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Sid":"Vend","Effect":"Allow","Action":"sts:GetWebIdentityToken","Resource":"*","Condition":{
    "ForAllValues:StringEquals":{"sts:IdentityTokenAudience":["sts.amazonaws.com","https://api.example.com","rsa-only.example"]},
    "NumericLessThanEquals":{"sts:DurationSeconds":"1800"}}},
  {"Sid":"RsaOnly","Effect":"Deny","Action":"sts:GetWebIdentityToken","Resource":"*","Condition":{
    "StringEquals":{"sts:SigningAlgorithm":"ES384"},
    "ForAnyValue:StringEquals":{"sts:IdentityTokenAudience":"rsa-only.example"}}},
  {"Sid":"Tag","Effect":"Allow","Action":"sts:TagGetWebIdentityToken","Resource":"*","Condition":{
    "StringEquals":{"aws:RequestTag/team":"ci"}}},
  {"Sid":"Scope","Effect":"Allow","Action":"sts:SetWebIdentityTokenScope","Resource":"*","Condition":{
    "ForAllValues:StringEquals":{"sts:IdentityTokenScope":["read","write"]}}}
]}"#;

pub struct Setup {
    pub fixture: Fixture,
    pub outbound: Outbound,
}

pub fn setup() -> Setup {
    let mut fixture = Fixture::new();
    let role = Role {
        name: VENDOR.to_owned(),
        path: "/".to_owned(),
        role_id: "AROAVENDOR0000000001".to_owned(),
        trust_policy: format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Federated":"{PROVIDER_ARN}"}},
            "Action":"sts:AssumeRoleWithWebIdentity","Condition":{{"StringEquals":{{"gitlab.com:aud":"{AUDIENCE}"}}}}}}]}}"#
        ),
        description: None,
        max_session_duration: 3600,
        tags: Vec::new(),
        created: NOW,
        managed_by: ManagedBy::Config,
        permissions_boundary: None,
    };
    let policies = [RolePolicy {
        role_name: VENDOR.to_owned(),
        policy_name: "vend".to_owned(),
        document: VENDOR_POLICY.to_owned(),
    }];
    fixture.state = fixture.state.apply(StateUpdate {
        roles: vec![(
            VENDOR,
            Some(RoleInput {
                role: &role,
                policies: &policies,
                attachments: &[],
            }),
        )],
        ..StateUpdate::default()
    });
    let keyring = OutboundKeyring::new(
        vec![
            OutboundKey::generate(SigningAlgorithm::Rs256, "RSA_0").unwrap(),
            OutboundKey::generate(SigningAlgorithm::Es384, "EC384_0").unwrap(),
        ],
        Vec::new(),
    );
    Setup {
        fixture,
        outbound: Outbound {
            issuer: ISSUER_URL.to_owned(),
            enabled: true,
            keyring,
            session_tags: vec![
                ("gitlab_project".to_owned(), "project_path".to_owned()),
                ("absent".to_owned(), "no_such_claim".to_owned()),
            ],
        },
    }
}

impl Setup {
    pub fn session(&self, role: &str) -> Credentials {
        let token = self.fixture.token(PROJECT, "main");
        let grant = self
            .fixture
            .exchange(&self.fixture.exchange_body(role, &token, &[]))
            .expect("the exchange is allowed");
        Credentials::of(&grant.minted)
    }

    /// The signed form body of a `GetWebIdentityToken` with `params`, and its caller at `now`.
    pub fn signed(
        &self,
        creds: &Credentials,
        params: &[(&str, &str)],
        now: i64,
    ) -> (Vec<u8>, Result<Caller, Error>) {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("Action", "GetWebIdentityToken")
            .append_pair("Version", "2011-06-15");
        for (k, v) in params {
            form.append_pair(k, v);
        }
        let body = form.finish().into_bytes();
        let headers = self.fixture.signed_headers(creds, "sts", &body, now);
        let caller = self.fixture.authenticate(&headers, &body, "sts", now);
        (body, caller)
    }

    /// A signed `GetWebIdentityToken` by `creds` with `params` at `now`.
    pub fn call_at(
        &self,
        creds: &Credentials,
        params: &[(&str, &str)],
        now: i64,
    ) -> Result<web_identity_token::IssuedToken, Error> {
        let (body, caller) = self.signed(creds, params, now);
        let caller = caller?;
        let query = QueryParams::parse("", &body)?;
        let params = TokenParams::from_query(&query)?;
        web_identity_token::issue(
            &self.fixture.state,
            &self.outbound,
            &caller,
            &params,
            "eu-west-1",
            now,
            &self.fixture.env,
        )
    }

    pub fn call(
        &self,
        creds: &Credentials,
        params: &[(&str, &str)],
    ) -> Result<web_identity_token::IssuedToken, Error> {
        self.call_at(creds, params, NOW)
    }

    /// The token's claims, after checking its signature against the published JWKS.
    pub fn verified_claims(&self, token: &str) -> (jwt::Header, Value) {
        let jwks = JwkSet::parse(self.outbound.keyring.jwks().to_string().as_bytes()).unwrap();
        let decoded = jwt::decode(token).unwrap();
        let key = jwks
            .find(decoded.header.kid.as_deref(), decoded.header.alg)
            .unwrap();
        let (signing_input, signature) = token.rsplit_once('.').unwrap();
        key.verify_signature(
            decoded.header.alg,
            signing_input.as_bytes(),
            &URL_SAFE_NO_PAD.decode(signature).unwrap(),
        )
        .expect("the signature verifies against the published JWKS");
        let payload = signing_input.split('.').nth(1).unwrap();
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        (decoded.header, claims)
    }
}
