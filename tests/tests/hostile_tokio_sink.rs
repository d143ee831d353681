//! smtp-sink's fault flags the shared sink suite lacks (`-A`, `-W`, `-w`, more `-q`/`-Q`/`-r`/
//! `-f`), on the tokio adapter.

use mxsend_tests::scenarios::Tokio;

mxsend_tests::hostile_sink_scenarios!(Tokio);
