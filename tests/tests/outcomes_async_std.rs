//! Issue 13's real-socket scenarios (`mxsend_tests::outcomes`) on the async-std adapter.

use mxsend_tests::scenarios::AsyncStd;

mxsend_tests::outcome_scenarios!(AsyncStd);
