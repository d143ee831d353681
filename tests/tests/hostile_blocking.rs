//! The hostile-server scenarios (`mxsend_tests::hostile::scenarios`) on the blocking adapter.

use mxsend_tests::scenarios::Blocking;

mxsend_tests::hostile_scenarios!(Blocking);
