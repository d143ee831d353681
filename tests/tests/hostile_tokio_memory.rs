//! The endless-reply scenarios on the tokio adapter, in a test binary of their own: they
//! compare the process's peak memory before and after.

use mxsend_tests::scenarios::Tokio;

mxsend_tests::hostile_memory_scenarios!(Tokio);
