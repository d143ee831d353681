#!/usr/bin/env bash
# A private Postfix instance on loopback for the end-to-end tests: its own config, queue, log and Maildirs
# under DIR, nothing shared with a system Postfix, and no way to send mail off the machine.
#
#   tests/peers/postfix.sh start DIR --smtp ADDR:PORT [--smtps ADDR:PORT] --cert FILE --key FILE
#                                [--mailbox USER@DOMAIN]... [--set NAME=VALUE]... [--name SYSLOG_NAME]
#   tests/peers/postfix.sh run DIR ...same options as start...
#   tests/peers/postfix.sh stop DIR
#
# start      configures DIR and starts a daemonized master (`postfix -c DIR/conf start`); for people.
# run        configures DIR and runs the master in the foreground (`postfix start-fg`, without `postfix check`
#            and without `master -w`'s sleeps: ready in about 0.2 s instead of 2-3 s, or 5 s when busy).
#            The test harness uses this, so the instance is its own child, stopped with `stop` and reaped.
# stop       `postfix stop`, waits until the master is gone (checks /proc: process 1 may not reap it).
#
# --smtp     plain listener offering STARTTLS (smtpd_tls_security_level = may)
# --smtps    implicit-TLS listener (smtpd_tls_wrappermode = yes), RFC 8314
# --mailbox  a virtual mailbox; mail for it lands in DIR/mail/DOMAIN/LOCALPART/new/ (a Maildir).
#            Defaults: alice@example.test bob@example.test jörg@example.test (Maildir .../joerg/)
# --set      any extra main.cf setting, applied last (e.g. message_size_limit=1000)
# --name     syslog_name, so logs of parallel instances can be told apart (default: postfix-$$)
#
# Must run as root (Postfix's master). Errors go to DIR/log/postfix.log, which is printed on failure.
# Pitfalls handled here (see /work/shared/peers.md): no chroot, postlogd for maillog_file, root-owned
# queue directory, postfix-owned data directory, empty mydestination, outbound transports disabled.
set -euo pipefail

usage() { sed -n '5,8p' "$0" >&2; exit 2; }
[ $# -ge 2 ] || usage
cmd=$1 dir=$2
shift 2

dump_log() { [ -f "$dir/log/postfix.log" ] && { echo "--- $dir/log/postfix.log" >&2; cat "$dir/log/postfix.log" >&2; }; true; }

master_pid() { # the master's pid, if the pid file names a live (non-zombie) process
  local pid state
  pid=$(tr -dc 0-9 < "$dir/queue/pid/master.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] || return 1
  state=$(sed 's/^.*) \(.\).*/\1/' "/proc/$pid/stat" 2>/dev/null) || return 1
  [ "$state" != Z ] || return 1
  echo "$pid"
}

case $cmd in
stop)
  [ -d "$dir/conf" ] || exit 0
  postfix -c "$dir/conf" stop >/dev/null 2>&1 || true
  # Process 1 may not reap the daemonized master, so `kill -0` can succeed on a zombie: read /proc.
  for _ in $(seq 100); do master_pid >/dev/null || exit 0; sleep 0.05; done
  pid=$(master_pid) && kill -9 "$pid" 2>/dev/null || true
  exit 0
  ;;
start|run) ;;
*) usage ;;
esac

smtp= smtps= cert= key= name="postfix-$$"
mailboxes=() settings=()
while [ $# -gt 0 ]; do
  case $1 in
    --smtp) smtp=$2; shift 2 ;;
    --smtps) smtps=$2; shift 2 ;;
    --cert) cert=$2; shift 2 ;;
    --key) key=$2; shift 2 ;;
    --mailbox) mailboxes+=("$2"); shift 2 ;;
    --set) settings+=("$2"); shift 2 ;;
    --name) name=$2; shift 2 ;;
    *) usage ;;
  esac
done
[ -n "$smtp" ] && [ -n "$cert" ] && [ -n "$key" ] || usage
[ ${#mailboxes[@]} -gt 0 ] || mailboxes=(alice@example.test bob@example.test jörg@example.test)
command -v postfix >/dev/null || { echo "postfix is not installed: run scripts/install-peers" >&2; exit 1; }

dir=$(cd "$dir" 2>/dev/null && pwd || { mkdir -p "$dir" && cd "$dir" && pwd; })
# Postfix daemons run as `postfix` and virtual(8) delivers as nobody: they must be able to walk the path.
chmod 755 "$dir"
mkdir -p "$dir/conf" "$dir/queue" "$dir/data" "$dir/log" "$dir/mail" "$dir/tls"
chown root:root "$dir/queue"; chmod 755 "$dir/queue"
chown postfix:postfix "$dir/data"
chown 65534:65534 "$dir/mail"
install -m 644 "$cert" "$dir/tls/server.crt"
install -m 600 "$key" "$dir/tls/server.key"

# Maildir paths are ASCII (jörg -> joerg) so nothing depends on the file system's name encoding.
# DIR/mailboxes lists "ADDRESS<TAB>MAILDIR" so readers need not repeat the folder naming.
map= domains=()
: > "$dir/mailboxes"
for m in "${mailboxes[@]}"; do
  local_part=${m%@*} domain=${m#*@}
  folder=$(printf '%s' "$local_part" | sed 's/ä/ae/g; s/ö/oe/g; s/ü/ue/g; s/ß/ss/g' | tr -c 'A-Za-z0-9._+-' _)
  map+="$m=$domain/$folder/, "
  printf '%s\t%s\n' "$m" "$dir/mail/$domain/$folder" >> "$dir/mailboxes"
  case " ${domains[*]-} " in *" $domain "*) ;; *) domains+=("$domain") ;; esac
done


cat > "$dir/conf/main.cf" <<CF
compatibility_level = 3.6
config_directory = $dir/conf
queue_directory = $dir/queue
data_directory = $dir/data
syslog_name = $name
maillog_file = $dir/log/postfix.log
maillog_file_prefixes = $dir/log
myhostname = mx.example.test
mydomain = example.test
myorigin = example.test
# Every listener in master.cf names its own address. inet_interfaces must list interface addresses, and
# 127.0.0.3 (say) is usable but is not one, so it cannot go here.
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
mydestination =
alias_maps =
alias_database =
local_recipient_maps =
relayhost =
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 1000
smtpd_hard_error_limit = 1000
smtpd_client_connection_rate_limit = 0
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
default_transport = error:outbound disabled
relay_transport = error:outbound disabled
smtputf8_enable = yes
virtual_mailbox_domains = ${domains[*]}
virtual_mailbox_base = $dir/mail
virtual_mailbox_maps = inline:{ ${map%, } }
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
virtual_minimum_uid = 1
smtpd_tls_security_level = may
smtpd_tls_cert_file = $dir/tls/server.crt
smtpd_tls_key_file = $dir/tls/server.key
smtpd_tls_loglevel = 1
smtpd_tls_received_header = yes
# Deliver at once, retry fast: tests wait seconds, not minutes.
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
CF
for s in ${settings[@]+"${settings[@]}"}; do printf '%s = %s\n' "${s%%=*}" "${s#*=}" >> "$dir/conf/main.cf"; done

{
  echo "$smtp inet n - n - - smtpd"
  [ -z "$smtps" ] || printf '%s inet n - n - - smtpd\n  -o smtpd_tls_wrappermode=yes\n  -o smtpd_tls_security_level=encrypt\n' "$smtps"
  cat <<'MASTER'
pickup     unix  n - n 60   1 pickup
cleanup    unix  n - n -    0 cleanup
qmgr       unix  n - n 300  1 qmgr
tlsmgr     unix  - - n 1000? 1 tlsmgr
rewrite    unix  - - n -    - trivial-rewrite
bounce     unix  - - n -    0 bounce
defer      unix  - - n -    0 bounce
trace      unix  - - n -    0 bounce
verify     unix  - - n -    1 verify
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n -    - proxymap
proxywrite unix  - - n -    1 proxymap
smtp       unix  - - n -    - smtp
relay      unix  - - n -    - smtp
showq      unix  n - n -    - showq
error      unix  - - n -    - error
retry      unix  - - n -    - error
discard    unix  - - n -    - discard
local      unix  - n n -    - local
virtual    unix  - n n -    - virtual
lmtp       unix  - - n -    - lmtp
anvil      unix  - - n -    1 anvil
scache     unix  - - n -    1 scache
postlog    unix-dgram n - n - 1 postlogd
MASTER
} > "$dir/conf/master.cf"
# Postfix waits (5 x 0.3 s) for a config file whose mtime is this very second, in case it is still being
# edited: back-date them.
touch -d '-1 minute' "$dir/conf/main.cf" "$dir/conf/master.cf"

# The queue directories, as `postfix check` (post-install create-missing) makes them. It takes 0.3 s on
# an idle machine but several seconds on a busy one (dozens of postconf runs), so `run` makes them itself.
make_queue_dirs() {
  local q=$dir/queue d
  for d in active bounce corrupt defer deferred flush hold incoming private saved trace; do
    install -d -o postfix -g root -m 700 "$q/$d"
  done
  install -d -o postfix -g postdrop -m 730 "$q/maildrop"
  install -d -o postfix -g postdrop -m 710 "$q/public"
  install -d -o root -g root -m 755 "$q/pid"
}

if [ "$cmd" = run ]; then
  make_queue_dirs
  # start-fg keeps the master in the foreground (as a child of postfix-script, which waits for it).
  # quick-start skips the integrity checks. Unlike a bare `master`, this way the master's own start-up
  # errors (e.g. "bind ... Address already in use") reach the log file.
  touch "$dir/queue/quick-start"
  exec postfix -c "$dir/conf" start-fg
fi

# `postfix check` creates the queue directories; postfix reports errors only to a tty or to its log.
if ! postfix -c "$dir/conf" check >/dev/null 2>"$dir/log/start.err"; then
  echo "postfix check failed in $dir" >&2
  cat "$dir/log/start.err" >&2
  # Without a terminal (as under cargo test) the reason went to a log that does not exist yet: ask again
  # through a pseudo-terminal so that it is printed.
  script -qec "postfix -c '$dir/conf' check" /dev/null >&2 || true
  dump_log
  exit 1
fi
if ! postfix -c "$dir/conf" start >/dev/null 2>>"$dir/log/start.err"; then
  echo "postfix failed to start in $dir" >&2
  cat "$dir/log/start.err" >&2
  dump_log
  exit 1
fi
for _ in $(seq 100); do master_pid >/dev/null && exit 0; sleep 0.05; done
echo "postfix master did not come up in $dir" >&2
dump_log
exit 1
