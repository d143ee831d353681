#!/usr/bin/env bash
# Prepares a DNSSEC test setup in DIR: signs zones with ldns-signzone, writes the configs of
# an authoritative NSD and a validating unbound holding the test trust anchors. Loopback only.
#
#   tests/peers/dnssec.sh DIR NSD_PORT UNBOUND_PORT
#
# DIR/signed/ORIGIN.zone   zones to sign (one KSK and one ZSK each, ECDSA P-256 SHA-256, alg 13);
#                          their KSKs become unbound's trust anchors
# DIR/unsigned/ORIGIN.zone zones served unsigned: insecure (unbound marks them domain-insecure)
#
# Writes DIR/nsd.conf and DIR/unbound.conf; the caller runs `nsd -d -c DIR/nsd.conf` and
# `unbound -d -c DIR/unbound.conf` (both in the foreground, as its children). unbound answers
# on 127.0.0.1:UNBOUND_PORT and sets the AD bit on what validates.
set -euo pipefail
dir=$(cd "${1:?usage: dnssec.sh DIR NSD_PORT UNBOUND_PORT}" && pwd)
nsd_port=${2:?NSD port}
unbound_port=${3:?unbound port}
mkdir -p "$dir/keys" "$dir/signed" "$dir/unsigned"

anchors=() zones=() insecure=()
for zone in "$dir"/signed/*.zone; do
  [ -e "$zone" ] || continue
  origin=$(basename "$zone" .zone)
  cd "$dir/keys"
  ksk=$(ldns-keygen -a ECDSAP256SHA256 -k "$origin")
  zsk=$(ldns-keygen -a ECDSAP256SHA256 "$origin")
  ldns-signzone -f "$dir/signed/$origin.zone.signed" "$zone" "$zsk" "$ksk"
  anchors+=("$dir/keys/$ksk.key")
  zones+=("$origin:$dir/signed/$origin.zone.signed")
done
for zone in "$dir"/unsigned/*.zone; do
  [ -e "$zone" ] || continue
  origin=$(basename "$zone" .zone)
  zones+=("$origin:$zone")
  insecure+=("$origin")
done

{
  echo "server:"
  echo "  ip-address: 127.0.0.1@$nsd_port"
  echo "  username: \"\""
  echo "  chroot: \"\""
  echo "  zonesdir: \"$dir\""
  echo "  pidfile: \"$dir/nsd.pid\""
  echo "  database: \"\""
  echo "  xfrdfile: \"$dir/xfrd.state\""
  echo "  zonelistfile: \"$dir/zone.list\""
  echo "  logfile: \"$dir/nsd.log\""
  echo "remote-control:"
  echo "  control-enable: no"
  for z in "${zones[@]}"; do
    echo "zone:"
    echo "  name: ${z%%:*}"
    echo "  zonefile: \"${z#*:}\""
  done
} > "$dir/nsd.conf"

{
  echo "server:"
  echo "  interface: 127.0.0.1@$unbound_port"
  echo "  port: $unbound_port"
  echo "  do-ip6: no"
  echo "  access-control: 127.0.0.0/8 allow"
  echo "  username: \"\""
  echo "  chroot: \"\""
  echo "  directory: \"$dir\""
  echo "  pidfile: \"$dir/unbound.pid\""
  echo "  use-syslog: no"
  echo "  logfile: \"$dir/unbound.log\""
  # The stubs below are on 127.0.0.1; .test is a special-use name unbound answers itself.
  echo "  do-not-query-localhost: no"
  echo "  local-zone: \"test.\" nodefault"
  echo "  module-config: \"validator iterator\""
  echo "  val-log-level: 2"
  for a in "${anchors[@]}"; do echo "  trust-anchor-file: \"$a\""; done
  for i in "${insecure[@]}"; do echo "  domain-insecure: \"$i\""; done
  for z in "${zones[@]}"; do
    echo "stub-zone:"
    echo "  name: \"${z%%:*}\""
    echo "  stub-addr: 127.0.0.1@$nsd_port"
  done
  echo "remote-control:"
  echo "  control-enable: no"
} > "$dir/unbound.conf"
