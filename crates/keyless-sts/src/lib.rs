//! STS core: the AWS Query wire protocol (parameters, validation, XML), the domain model, and the
//! web-identity exchange. No I/O.

pub mod model;
