//! The smtp-sink scenarios (`mxsend_tests::scenarios`) on the async-std (legacy) adapter.

use mxsend_tests::scenarios::AsyncStd;

mxsend_tests::sink_scenarios!(AsyncStd);
