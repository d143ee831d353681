//! Issue 13's Postfix scenario (a server's recipient limit) on the blocking and smol adapters.

mod blocking {
    use mxsend_tests::scenarios::Blocking;
    mxsend_tests::outcome_postfix_scenarios!(Blocking);
}

mod smol {
    use mxsend_tests::scenarios::Smol;
    mxsend_tests::outcome_postfix_scenarios!(Smol);
}
