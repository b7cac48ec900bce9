//! Request bodies, read whole within a size limit.

use axum::body::{Body, Bytes};
use keyless_sts::Error;

/// Reads a whole request body of at most `limit` bytes.
pub(crate) async fn read_body(body: Body, limit: usize) -> Result<Bytes, Error> {
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| Error::RequestEntityTooLarge { limit })
}
