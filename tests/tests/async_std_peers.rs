//! The real-server scenarios (`mxsend_tests::scenarios`) on the async-std (legacy) adapter: Postfix with
//! STARTTLS and implicit TLS, aiosmtpd with AUTH, per-recipient refusals and test certificates.

use mxsend_tests::scenarios::AsyncStd;

mxsend_tests::peer_scenarios!(AsyncStd);
