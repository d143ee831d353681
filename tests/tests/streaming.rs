//! Issue 19's scenarios (`mxsend_tests::streaming`): transactions streamed under CHUNKING and
//! PIPELINING, against a private Postfix and the hostile server, on every runtime.

mod blocking {
    mxsend_tests::streaming_scenarios!(mxsend_tests::scenarios::Blocking);
}

mod smol {
    mxsend_tests::streaming_scenarios!(mxsend_tests::scenarios::Smol);
}

mod async_std {
    mxsend_tests::streaming_scenarios!(mxsend_tests::scenarios::AsyncStd);
}

mod tokio {
    mxsend_tests::streaming_scenarios!(mxsend_tests::scenarios::Tokio);
}
