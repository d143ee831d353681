//! The smtp-sink scenarios (`mxsend_tests::scenarios`) on the smol adapter.

use mxsend_tests::scenarios::Smol;

mxsend_tests::sink_scenarios!(Smol);
