//! The MX delivery scenarios (`mxsend_tests::scenarios`) on the tokio adapter: dnsmasq
//! serves the MX records, smtp-sinks listen at the exchanges' loopback addresses.

use mxsend_tests::scenarios::Tokio;

mxsend_tests::mx_scenarios!(Tokio);
mxsend_tests::concurrent_mx_scenarios!(Tokio);
