//! Failed unauthenticated requests under a flood: the first events of each source and error
//! in a window are written one by one, the rest are counted and written as one summary event
//! per source and error when the window ends. Nothing else is ever aggregated: successes,
//! denials of valid tokens and every signed call keep their own events.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::audit::event::Event;

/// How long a window lasts.
pub(crate) const WINDOW: Duration = Duration::from_secs(10);
/// The most sources tracked in a window; the failures of further sources are tallied together
/// under the unspecified address.
const MAX_SOURCES: usize = 10_000;

/// The tally of one source and error code in the current window.
#[derive(Debug, Default)]
struct Tally {
    written: u32,
    aggregated: u64,
    first: i64,
    last: i64,
}

/// The flood accounting of an auditor.
pub(crate) struct Flood {
    state: Mutex<FloodState>,
    per_window: u32,
}

struct FloodState {
    started: Instant,
    tallies: HashMap<(IpAddr, &'static str), Tally>,
}

/// One summary event's content: how many failures of one source and code were counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Aggregate {
    pub(crate) source_ip_address: IpAddr,
    pub(crate) error_code: &'static str,
    pub(crate) count: u64,
    pub(crate) first_event_time: String,
    pub(crate) last_event_time: String,
}

impl Flood {
    /// Writes `per_window` events of each source and code per window, and counts the rest.
    pub(crate) fn new(per_window: u32) -> Flood {
        Flood {
            state: Mutex::new(FloodState {
                started: Instant::now(),
                tallies: HashMap::new(),
            }),
            per_window,
        }
    }

    /// Whether the event of this failure is written (`true`) or only counted.
    pub(crate) fn admit(&self, source: IpAddr, code: &'static str, now: i64) -> bool {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let source =
            if state.tallies.len() >= MAX_SOURCES && !state.tallies.contains_key(&(source, code)) {
                IpAddr::V4(Ipv4Addr::UNSPECIFIED)
            } else {
                source
            };
        let tally = state.tallies.entry((source, code)).or_default();
        if tally.written < self.per_window {
            tally.written += 1;
            return true;
        }
        if tally.aggregated == 0 {
            tally.first = now;
        }
        tally.aggregated += 1;
        tally.last = now;
        false
    }

    /// When the window has ended (or `now_anyway`, at shutdown): the counted failures of each
    /// source and code, and a new window.
    pub(crate) fn roll(&self, now_anyway: bool) -> Vec<Aggregate> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.started.elapsed() < WINDOW && !now_anyway {
            return Vec::new();
        }
        state.started = Instant::now();
        let tallies = std::mem::take(&mut state.tallies);
        drop(state);
        let mut aggregates: Vec<Aggregate> = tallies
            .into_iter()
            .filter(|(_, t)| t.aggregated > 0)
            .map(|((source, code), t)| Aggregate {
                source_ip_address: source,
                error_code: code,
                count: t.aggregated,
                first_event_time: keyless_sts::time::iso8601(t.first),
                last_event_time: keyless_sts::time::iso8601(t.last),
            })
            .collect();
        aggregates.sort_by_key(|a| std::cmp::Reverse(a.count));
        aggregates
    }
}

impl Aggregate {
    /// The summary event.
    pub(crate) fn event(&self, account: &str) -> Vec<u8> {
        let request_id = uuid::Uuid::new_v4().to_string();
        let mut event = Event::new("keyless", "FailedRequestsAggregated", &request_id, account);
        event
            .set("sourceIPAddress", &self.source_ip_address)
            .additional("aggregated", self);
        event.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_failures_are_written_and_the_rest_counted_per_source_and_code() {
        let flood = Flood::new(3);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let written = (0..10)
            .filter(|_| flood.admit(a, "InvalidAction", 100))
            .count();
        assert_eq!(written, 3);
        assert!(
            flood.admit(a, "MissingAction", 100),
            "another code has its own tally"
        );
        assert!(flood.admit(b, "InvalidAction", 100), "another source too");
        assert!(flood.roll(false).is_empty(), "the window has not ended");
        flood.state.lock().unwrap().started -= WINDOW;
        let aggregates = flood.roll(false);
        assert_eq!(
            aggregates,
            vec![Aggregate {
                source_ip_address: a,
                error_code: "InvalidAction",
                count: 7,
                first_event_time: keyless_sts::time::iso8601(100),
                last_event_time: keyless_sts::time::iso8601(100),
            }]
        );
        assert!(
            flood.admit(a, "InvalidAction", 200),
            "a new window writes again"
        );
        let line = aggregates[0].event("000000000000");
        let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(value["eventName"], "FailedRequestsAggregated");
        assert_eq!(value["additionalEventData"]["aggregated"]["count"], 7);
    }
}
