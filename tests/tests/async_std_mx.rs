//! The MX delivery scenarios (`mxsend_tests::scenarios`) on the async-std (legacy) adapter: dnsmasq
//! serves the MX records, smtp-sinks listen at the exchanges' loopback addresses.

use mxsend_tests::scenarios::AsyncStd;

mxsend_tests::mx_scenarios!(AsyncStd);
mxsend_tests::concurrent_mx_scenarios!(AsyncStd);
