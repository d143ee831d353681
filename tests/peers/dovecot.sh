#!/usr/bin/env bash
# A private Dovecot instance on loopback for the end-to-end tests: LMTP on a Unix socket and on a TCP
# port, and Dovecot's auth service (PLAIN and SCRAM-SHA-256) on a Unix socket for a private Postfix's
# SASL (smtpd_sasl_type = dovecot). Everything (config, base_dir, state, log, Maildirs) lives under DIR;
# nothing is shared with a system Dovecot.
#
#   tests/peers/dovecot.sh run DIR --lmtp-port PORT [--user ADDRESS:PASSWORD]... [--quota ADDRESS:BYTES]...
#                              [--name INSTANCE]
#
# run        writes DIR/dovecot.conf and runs `dovecot -F -c DIR/dovecot.conf` in the foreground, so the
#            instance is the caller's child (SIGTERM stops it and its processes).
# --lmtp-port  LMTP on 127.0.0.1:PORT (also, always, on the Unix socket DIR/run/lmtp)
# --user     a mailbox and its password (passwd-file, {PLAIN}: Dovecot derives SCRAM from it); mail lands in
#            the Maildir DIR/mail/DOMAIN/LOCALPART/. Default: alice@example.test:alice-pw bob@example.test:bob-pw
# --quota    a storage quota for that user (Dovecot's quota plugin, maildir backend): a message that does not
#            fit is refused at the end of data for that recipient only (552 5.2.2), not at RCPT
# --name     instance_name, so parallel instances' processes can be told apart
#
# Sockets: DIR/run/lmtp (LMTP), DIR/run/auth-postfix (auth, for Postfix). Log: DIR/log/dovecot.log.
# Must run as root (Dovecot's master); mail is stored as nobody (uid/gid 65534). ssl = no: LMTP stays on
# loopback and Unix sockets, and the SCRAM tests put TLS in front with Postfix.
set -euo pipefail

usage() { sed -n '6,7p' "$0" >&2; exit 2; }
[ $# -ge 2 ] || usage
cmd=$1 dir=$2
shift 2
[ "$cmd" = run ] || usage

lmtp_port= name="mxsend-dovecot-$$"
users=() quotas=()
while [ $# -gt 0 ]; do
  case $1 in
    --lmtp-port) lmtp_port=$2; shift 2 ;;
    --user) users+=("$2"); shift 2 ;;
    --quota) quotas+=("$2"); shift 2 ;;
    --name) name=$2; shift 2 ;;
    *) usage ;;
  esac
done
[ -n "$lmtp_port" ] || usage
[ ${#users[@]} -gt 0 ] || users=(alice@example.test:alice-pw bob@example.test:bob-pw)
command -v dovecot >/dev/null || PATH=$PATH:/usr/sbin:/sbin
command -v dovecot >/dev/null || { echo "dovecot is not installed: run scripts/install-peers" >&2; exit 1; }

dir=$(cd "$dir" 2>/dev/null && pwd || { mkdir -p "$dir" && cd "$dir" && pwd; })
# Dovecot's unprivileged processes and Postfix's smtpd must be able to walk the path to the sockets.
chmod 755 "$dir"
mkdir -p "$dir/run" "$dir/state" "$dir/log" "$dir/mail"
chmod 755 "$dir/run"
chown 65534:65534 "$dir/mail"

# passwd-file: user:{PLAIN}password:uid:gid::home::extra fields (a per-user quota rule)
: > "$dir/users"
for entry in "${users[@]}"; do
  address=${entry%%:*} password=${entry#*:} extra=
  for quota in "${quotas[@]+"${quotas[@]}"}"; do
    [ "${quota%%:*}" = "$address" ] && extra="userdb_quota_rule=*:bytes=${quota#*:}"
  done
  printf '%s:{PLAIN}%s:65534:65534::%s/mail/%s/%s::%s\n' "$address" "$password" "$dir" "${address#*@}" "${address%@*}" "$extra" >> "$dir/users"
done
chmod 644 "$dir/users"

cat > "$dir/dovecot.conf" <<CONF
instance_name = $name
base_dir = $dir/run
state_dir = $dir/state
log_path = $dir/log/dovecot.log
info_log_path = $dir/log/dovecot.log
debug_log_path = $dir/log/dovecot.log
protocols = lmtp
listen = 127.0.0.1
ssl = no
hostname = lmtp.example.test
postmaster_address = postmaster@example.test
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 1
disable_plaintext_auth = no
auth_mechanisms = plain scram-sha-256
auth_verbose = yes
mail_location = maildir:~
lmtp_save_to_detail_mailbox = no
mail_plugins = quota
plugin {
  quota = maildir:User quota
}

passdb {
  driver = passwd-file
  args = $dir/users
}
userdb {
  driver = passwd-file
  args = $dir/users
}

service lmtp {
  unix_listener lmtp {
    mode = 0666
  }
  inet_listener lmtp {
    address = 127.0.0.1
    port = $lmtp_port
  }
}
service auth {
  unix_listener auth-postfix {
    mode = 0666
  }
}
CONF

exec dovecot -F -c "$dir/dovecot.conf"
