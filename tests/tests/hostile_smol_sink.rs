//! smtp-sink's fault flags the shared sink suite lacks (`-A`, `-W`, `-w`, more `-q`/`-Q`/`-r`/
//! `-f`), on the smol adapter.

use mxsend_tests::scenarios::Smol;

mxsend_tests::hostile_sink_scenarios!(Smol);
