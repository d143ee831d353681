//! smtp-sink's fault flags the shared sink suite lacks (`-A`, `-W`, `-w`, more `-q`/`-Q`/`-r`/
//! `-f`), on the async-std (legacy) adapter.

use mxsend_tests::scenarios::AsyncStd;

mxsend_tests::hostile_sink_scenarios!(AsyncStd);
