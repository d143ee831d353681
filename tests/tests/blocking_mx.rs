//! The MX delivery scenarios (`mxsend_tests::scenarios`) on the blocking adapter: dnsmasq
//! serves the MX records, smtp-sinks listen at the exchanges' loopback addresses.

use mxsend_tests::scenarios::Blocking;

mxsend_tests::mx_scenarios!(Blocking);
