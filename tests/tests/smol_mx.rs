//! The MX delivery scenarios (`mxsend_tests::scenarios`) on the smol adapter: dnsmasq
//! serves the MX records, smtp-sinks listen at the exchanges' loopback addresses.

use mxsend_tests::scenarios::Smol;

mxsend_tests::mx_scenarios!(Smol);
mxsend_tests::concurrent_mx_scenarios!(Smol);
