//! The hostile-server scenarios (`mxsend_tests::hostile::scenarios`) on the tokio adapter.

use mxsend_tests::scenarios::Tokio;

mxsend_tests::hostile_scenarios!(Tokio);
