//! The smtp-sink scenarios (`mxsend_tests::scenarios`) on the tokio adapter.

use mxsend_tests::scenarios::Tokio;

mxsend_tests::sink_scenarios!(Tokio);
