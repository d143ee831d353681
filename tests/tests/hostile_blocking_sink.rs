//! smtp-sink's fault flags the shared sink suite lacks (`-A`, `-W`, `-w`, more `-q`/`-Q`/`-r`/
//! `-f`), on the blocking adapter.

use mxsend_tests::scenarios::Blocking;

mxsend_tests::hostile_sink_scenarios!(Blocking);
