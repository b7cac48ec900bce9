//! The IAM Query API (version 2010-05-08) on the same endpoint: OIDC providers, roles, inline
//! and managed policies, each call SigV4-signed (service `iam`) and authorized.

use keyless_sts::auth::Caller;
use keyless_sts::error::AwsError;
use keyless_sts::query::QueryParams;

use crate::app::App;

/// The IAM API version.
pub const IAM_VERSION: &str = "2010-05-08";

/// Whether `action` is an IAM operation this endpoint serves.
pub fn is_iam_action(_action: &str) -> bool {
    false
}

/// Runs one IAM operation for an authenticated caller and renders its XML response.
pub async fn handle(
    _app: &App,
    _caller: &Caller,
    action: &str,
    _params: &QueryParams,
    _request_id: &str,
) -> Result<String, AwsError> {
    Err(AwsError::invalid_action(action, IAM_VERSION))
}
