//! The scenarios against real servers (`mxsend_tests::scenarios`, `real_scenarios!`) on the
//! tokio adapter: a private Postfix, aiosmtpd with AUTH, and MX delivery through dnsmasq to
//! a Postfix.

use mxsend_tests::scenarios::Tokio;

mxsend_tests::real_scenarios!(Tokio);
