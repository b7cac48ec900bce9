//! Bytes per role of the compiled state, counted by the allocator: roles as the scale
//! benchmark stores them (a web-identity trust policy and one inline policy each), in a state
//! as it is after start-up (documents as text), then after every role has been used once
//! (every document parsed). `cargo bench -p keyless-sts --bench memory [-- ROLES]`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use keyless_credentials::session::{SealingKeyring, generate_sealing_key};
use keyless_sts::model::{ManagedBy, Role, RolePolicy};
use keyless_sts::state::{StateInputs, StsOptions, StsState};

struct Counting;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator, only counting.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const ACCOUNT: &str = "000000000000";

fn trust(project: usize) -> String {
    let provider = format!("ci-{}.example", project % 1000);
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Federated":"arn:aws:iam::{ACCOUNT}:oidc-provider/{provider}"}},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{{"StringEquals":{{"{provider}:aud":"sts.amazonaws.com"}},"StringLike":{{"{provider}:sub":"project_path:group-{}/project-{project:06}:ref_type:branch:ref:main"}}}}}}]}}"#,
        project % 100
    )
}

fn permissions(project: usize) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::artifacts/project-{project:06}/*"}}]}}"#
    )
}

fn main() {
    let count: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);
    let roles: Vec<Role> = (0..count)
        .map(|i| Role {
            name: format!("project-{i:06}-deployer"),
            path: "/".to_owned(),
            role_id: format!("AROA{i:017}"),
            trust_policy: trust(i),
            description: None,
            max_session_duration: 3600,
            permissions_boundary: None,
            tags: Vec::new(),
            created: 1_700_000_000,
            managed_by: ManagedBy::Api,
        })
        .collect();
    let policies: Vec<RolePolicy> = (0..count)
        .map(|i| RolePolicy {
            role_name: format!("project-{i:06}-deployer"),
            policy_name: "artifacts".to_owned(),
            document: permissions(i),
        })
        .collect();
    let keyring = SealingKeyring::new(generate_sealing_key(1, 0), Vec::new()).expect("keyring");
    let before = LIVE_BYTES.load(Ordering::Relaxed);
    let state = StsState::build(StateInputs {
        account: ACCOUNT,
        providers: &[],
        roles: &roles,
        role_policies: &policies,
        managed_policies: &[],
        attachments: &[],
        builtin_jwks: &HashMap::new(),
        keyring,
        admin: None,
        options: StsOptions::default(),
    });
    let built = LIVE_BYTES.load(Ordering::Relaxed);
    for role in state.roles.values() {
        assert!(
            role.compiled().problems.is_empty(),
            "{:?}",
            role.compiled().problems
        );
    }
    let compiled = LIVE_BYTES.load(Ordering::Relaxed);
    let per_role = |bytes: usize| bytes as f64 / count as f64;
    let text: usize = roles.iter().map(|r| r.trust_policy.len()).sum::<usize>()
        + policies.iter().map(|p| p.document.len()).sum::<usize>();
    println!("roles: {count}");
    println!("documents as text: {:.0} bytes per role", per_role(text));
    println!(
        "state after start-up: {:.0} bytes per role",
        per_role(built - before)
    );
    println!(
        "state with every role used: {:.0} bytes per role",
        per_role(compiled - before)
    );
}
