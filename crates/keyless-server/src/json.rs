//! keyless's JSON answers: a JSON body, and an error in the shape the JSON APIs share.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keyless_sts::Error;

/// A `200` answer with a JSON `body` and, when given, its `Cache-Control`.
pub(crate) fn json_body(body: String, cache_control: Option<&'static str>) -> Response {
    let mut resp = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response();
    if let Some(cc) = cache_control {
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(cc));
    }
    resp
}

/// A keyless JSON API's error: `{"Error": {"Code", "Message", "Type"}, "RequestId"}` with
/// the error's status.
pub(crate) fn json_error(err: &Error, request_id: &str) -> Response {
    let body = serde_json::json!({
        "Error": { "Code": err.code(), "Message": err.message(), "Type": err.fault_type() },
        "RequestId": request_id,
    });
    let mut resp = json_body(body.to_string(), None);
    *resp.status_mut() = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::BAD_REQUEST);
    resp
}
