//! S3's error responses and the request IDs every response carries.

use axum::body::Body;
use axum::response::Response;
use http::{HeaderMap, HeaderValue, StatusCode};
use keyless_s3::S3Error;

use crate::record;

/// S3's error response: the XML body (none for `HEAD`), `x-amz-request-id` and `x-amz-id-2`.
pub(crate) fn error_response(
    error: &S3Error,
    head: bool,
    resource: &str,
    request_id: &str,
) -> Response {
    let host_id = record::host_id(request_id);
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = if head {
        Body::empty()
    } else {
        Body::from(error.to_xml(resource, request_id, &host_id))
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    ids(headers, request_id, &host_id);
    response
}

/// A `200` with an XML body the gateway wrote (`application/xml`) and the request IDs.
pub(crate) fn xml_response(xml: String, request_id: &str) -> Response {
    let mut response = Response::new(Body::from(xml));
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    ids(headers, request_id, &record::host_id(request_id));
    response
}

/// Sets `x-amz-request-id` and `x-amz-id-2`.
pub(crate) fn ids(headers: &mut HeaderMap, request_id: &str, host_id: &str) {
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert("x-amz-request-id", value);
    }
    if let Ok(value) = HeaderValue::from_str(host_id) {
        headers.insert("x-amz-id-2", value);
    }
}
