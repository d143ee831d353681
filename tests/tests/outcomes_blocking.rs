//! Issue 13's real-socket scenarios (`mxsend_tests::outcomes`) on the blocking adapter.

use mxsend_tests::scenarios::Blocking;

mxsend_tests::outcome_scenarios!(Blocking);
