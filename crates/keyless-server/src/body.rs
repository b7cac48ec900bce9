//! Request bodies, read whole within a size limit, a timeout and a minimum rate.
//!
//! A body announced larger than the limit is refused before a byte of it is read. Otherwise it
//! has `timeout` to arrive, plus the time `min_rate` gives the bytes received so far: a body
//! that stalls, or trickles in slower than the rate once the timeout has passed, is refused with
//! `RequestTimeout`, and its connection closes.

use std::time::Duration;

use axum::body::{Body, Bytes};
use bytes::BytesMut;
use http_body_util::BodyExt as _;
use hyper::body::Body as _;
use keyless_sts::Error;
use tokio::time::Instant;

/// The bounds of a request body.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyLimits {
    /// The most bytes.
    pub(crate) max_bytes: usize,
    /// The time any body has.
    pub(crate) timeout: Duration,
    /// Bytes per second a body must average beyond `timeout`.
    pub(crate) min_rate: u64,
}

impl BodyLimits {
    /// The deadline of a body that started at `started` and has delivered `received` bytes.
    fn deadline(&self, started: Instant, received: usize) -> Instant {
        let earned = Duration::from_secs_f64(received as f64 / self.min_rate.max(1) as f64);
        started + self.timeout + earned
    }
}

/// Reads a whole request body within `limits`.
pub(crate) async fn read_body(mut body: Body, limits: &BodyLimits) -> Result<Bytes, Error> {
    let too_large = Error::RequestEntityTooLarge {
        limit: limits.max_bytes,
    };
    let announced = body.size_hint().lower();
    if announced > limits.max_bytes as u64 {
        return Err(too_large);
    }
    let started = Instant::now();
    let mut received = BytesMut::with_capacity(announced as usize);
    loop {
        let deadline = limits.deadline(started, received.len());
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => return Err(Error::RequestTimeout),
            Ok(None) => break,
            Ok(Some(Err(_))) => return Err(Error::IncompleteBody),
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            if received.len() + data.len() > limits.max_bytes {
                return Err(too_large);
            }
            received.extend_from_slice(&data);
        }
    }
    Ok(received.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: BodyLimits = BodyLimits {
        max_bytes: 64,
        timeout: Duration::from_secs(10),
        min_rate: 1024,
    };

    #[tokio::test]
    async fn reads_a_body_within_its_limit() {
        let body = read_body(Body::from("Action=GetCallerIdentity"), &LIMITS).await;
        assert_eq!(body.unwrap(), "Action=GetCallerIdentity");
        let too_large = read_body(Body::from(vec![b'x'; 65]), &LIMITS).await;
        assert!(matches!(
            too_large,
            Err(Error::RequestEntityTooLarge { limit: 64 })
        ));
    }

    /// A body fed through a channel, as a slow client sends one.
    struct Trickle(tokio::sync::mpsc::Receiver<Bytes>);

    impl hyper::body::Body for Trickle {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
            self.0
                .poll_recv(cx)
                .map(|chunk| chunk.map(|c| Ok(hyper::body::Frame::data(c))))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_body_times_out_after_its_allowance() {
        let (sender, receiver) = tokio::sync::mpsc::channel(4);
        let body = Body::new(Trickle(receiver));
        let reading = tokio::spawn(async move { read_body(body, &LIMITS).await });
        sender.send(Bytes::from_static(&[b'x'; 32])).await.unwrap();
        // 10 s, plus 32 bytes at 1024 B/s.
        tokio::time::sleep(Duration::from_millis(10_020)).await;
        assert!(!reading.is_finished(), "within the allowance");
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(matches!(reading.await.unwrap(), Err(Error::RequestTimeout)));
    }

    #[test]
    fn the_allowance_grows_with_the_bytes_received() {
        let start = Instant::now();
        assert_eq!(LIMITS.deadline(start, 0), start + Duration::from_secs(10));
        assert_eq!(
            LIMITS.deadline(start, 2048),
            start + Duration::from_secs(12)
        );
    }
}
