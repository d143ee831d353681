//! The hostile-server scenarios (`mxsend_tests::hostile::scenarios`) on the smol adapter.

use mxsend_tests::scenarios::Smol;

mxsend_tests::hostile_scenarios!(Smol);
