//! Issue 13's real-socket scenarios (`mxsend_tests::outcomes`) on the tokio adapter.

use mxsend_tests::scenarios::Tokio;

mxsend_tests::outcome_scenarios!(Tokio);
