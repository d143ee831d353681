//! Issue 13's real-socket scenarios (`mxsend_tests::outcomes`) on the smol adapter.

use mxsend_tests::scenarios::Smol;

mxsend_tests::outcome_scenarios!(Smol);
