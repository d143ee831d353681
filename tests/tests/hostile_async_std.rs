//! The hostile-server scenarios (`mxsend_tests::hostile::scenarios`) on the async-std (legacy) adapter.

use mxsend_tests::scenarios::AsyncStd;

mxsend_tests::hostile_scenarios!(AsyncStd);
