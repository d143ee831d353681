//! The scenarios against real servers (`mxsend_tests::scenarios`, `real_scenarios!`) on the
//! async-std adapter: a private Postfix, aiosmtpd with AUTH, and MX delivery through dnsmasq to
//! a Postfix.

use mxsend_tests::scenarios::AsyncStd;

mxsend_tests::real_scenarios!(AsyncStd);
