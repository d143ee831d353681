//! The smtp-sink scenarios (`mxsend_tests::scenarios`) on the blocking adapter.

use mxsend_tests::scenarios::Blocking;

mxsend_tests::sink_scenarios!(Blocking);
