//! The real-server scenarios (`mxsend_tests::scenarios`) on the blocking adapter: Postfix with
//! STARTTLS and implicit TLS, aiosmtpd with AUTH, per-recipient refusals and test certificates.

use mxsend_tests::scenarios::Blocking;

mxsend_tests::peer_scenarios!(Blocking);
