//! How the session answers each reply: the transition table.
//!
//! [`Session::on_reply`] is the table. Each reply answers the command at the front of the
//! expectation queue; the match below says, for that command and the reply's code, what
//! the session does next. Everything else here is the small machinery the table uses:
//! sending a command (and queueing the reply it will get), deadlines, starting
//! transactions, and settling recipients' outcomes.

use super::settled::{Buffers, KeptReply, Settled, Verdict};
use super::{
    AuthState, BodyError, DsnOptions, Envelope, Event, Expect, Failure, Outcome, Phase, Protocol,
    RecipientState, Session, SessionError, Split, Stage, State, TlsPolicy, Transaction,
    TransactionId, TransmitLabel, RCPT_PER_TRANSACTION,
};
use crate::capabilities::Capabilities;
use crate::command::{self, BodyType, Command, CommandError, MailParams, RcptParams};
use crate::reply::ReplyRef;
use crate::time::Instant;
use alloc::string::String;
use alloc::vec::Vec;

/// 421: service not available, closing the channel (RFC 5321 §3.8).
const SERVICE_CLOSING: u16 = 421;

/// 452 to RCPT: too many recipients (RFC 5321 §4.5.3.1.10), when others were accepted.
const TOO_MANY_RECIPIENTS: u16 = 452;

/// 354: start mail input. Once received, every octet sent is message content.
const START_MAIL_INPUT: u16 = 354;

/// EHLO replies after which HELO is worth trying: the server does not know EHLO
/// (RFC 5321 §4.1.4 and §3.2).
const EHLO_UNKNOWN: [u16; 2] = [500, 502];

impl Session {
    /// The transition table: what the reply to the command at the front of the queue leads to.
    ///
    /// The reply is borrowed from the parser: it is made an owned [`crate::reply::Reply`] only where one
    /// is kept (an outcome, an error, the capabilities), so the steady state of a
    /// transaction (250 to MAIL and RCPT, 354) allocates nothing.
    pub(super) fn on_reply(&mut self, reply: ReplyRef<'_>, now: Instant) {
        self.expect_after.pop_front();
        let Some(expect) = self.expect.pop_front() else {
            let error = if reply.code().get() == SERVICE_CLOSING {
                SessionError::ServiceClosing(reply.to_reply())
            } else {
                SessionError::UnsolicitedReply(reply.to_reply())
            };
            self.fail(error, now, false);
            return;
        };
        self.refresh_deadline(now);
        let code = reply.code().get();
        if code == SERVICE_CLOSING && expect != Expect::Quit {
            let reply = reply.to_reply();
            self.settle_answered(expect, Outcome::Deferred(Failure::Reply(reply.clone())));
            self.fail(SessionError::ServiceClosing(reply), now, false);
            return;
        }
        let class = code / 100;
        match expect {
            Expect::Greeting => match code {
                220 => self.send_hello(Expect::Ehlo, now),
                _ if class >= 4 => {
                    self.fail(SessionError::GreetingRefused(reply.to_reply()), now, true)
                }
                _ => self.unexpected(Phase::Greeting, reply, now),
            },
            Expect::Ehlo => match code {
                250 => self.hello_done(Capabilities::from_ehlo(&reply.to_reply()), now),
                // LMTP has no HELO to fall back to (RFC 2033 §4.1).
                _ if class >= 4 && self.config.protocol == Protocol::Lmtp => {
                    self.fail(SessionError::HelloRejected(reply.to_reply()), now, true)
                }
                _ if EHLO_UNKNOWN.contains(&code) && self.helo_allowed() => {
                    self.send_hello(Expect::Helo, now)
                }
                _ if EHLO_UNKNOWN.contains(&code) => self.fail(
                    SessionError::EhloRequiredForTls(reply.to_reply()),
                    now,
                    true,
                ),
                _ if class >= 4 => {
                    self.fail(SessionError::HelloRejected(reply.to_reply()), now, true)
                }
                _ => self.unexpected(Phase::Hello, reply, now),
            },
            Expect::Helo => match code {
                250 => {
                    let server_name = reply
                        .first_line()
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .into();
                    self.hello_done(
                        Capabilities {
                            server_name,
                            ..Default::default()
                        },
                        now,
                    )
                }
                _ if class >= 4 => {
                    self.fail(SessionError::HelloRejected(reply.to_reply()), now, true)
                }
                _ => self.unexpected(Phase::Hello, reply, now),
            },
            Expect::StartTls => match code {
                220 => {
                    self.state = State::TlsHandshake;
                    self.events.push_back(Event::StartTls);
                    self.refresh_deadline(now);
                }
                _ if class >= 4 && self.config.tls == TlsPolicy::Required => {
                    self.fail(SessionError::StartTlsRefused(reply.to_reply()), now, true)
                }
                // Opportunistic TLS: the server declined; go on in plaintext (RFC 7435).
                _ if class >= 4 => self.authenticate_or_establish(now),
                _ => self.unexpected(Phase::StartTls, reply, now),
            },
            Expect::Auth if self.auth_cancelled() => self.cancel_answered(now),
            Expect::Auth => match code {
                235 => self.auth_succeeded(now),
                334 => self.answer_challenge(reply, now),
                _ if class >= 4 => self.fail(SessionError::AuthFailed(reply.to_reply()), now, true),
                _ => self.unexpected(Phase::Auth, reply, now),
            },
            Expect::Mail(id) => match code {
                250 => {
                    if !self.pipelining() {
                        self.send_next_rcpt(id, 0, now);
                    }
                }
                _ if class >= 4 => {
                    self.fail_transaction(id, sender_refused(reply));
                    if !self.pipelining() {
                        self.complete(id);
                    } else if self.in_streamed_body(id) {
                        self.stop_streamed_body(id, now);
                    }
                }
                _ => self.unexpected(Phase::Mail, reply, now),
            },
            Expect::Rcpt(id, index) => {
                let state = match code {
                    _ if class == 2 => RecipientState::Accepted,
                    TOO_MANY_RECIPIENTS => RecipientState::TooMany(negative(reply)),
                    _ if class >= 4 => RecipientState::Done(negative(reply).into()),
                    _ => return self.unexpected(Phase::Rcpt, reply, now),
                };
                self.rcpt_answered(id, index, state, now);
            }
            Expect::Data(id) => match code {
                354 if self.has_accepted(id) => self.begin_body(id, now),
                354 => {
                    // PIPELINING sent DATA before the RCPT replies said nobody was accepted,
                    // and the server still said go ahead: send an empty message, ignore its
                    // reply, and reset (RFC 2920 §3.1).
                    self.transmit.extend_from_slice(b".\r\n");
                    // LMTP answers an end of data once per accepted recipient: none here.
                    if self.config.protocol == Protocol::Smtp {
                        self.expect_reply(Expect::DiscardedData, now);
                    }
                    self.reset(id, now);
                }
                _ if class >= 4 => {
                    self.fail_transaction(id, negative(reply));
                    self.reset(id, now);
                }
                _ => self.unexpected(Phase::DataInitiation, reply, now),
            },
            Expect::DataEnd(id, _) | Expect::Bdat(id, true, _) => match code {
                250 => {
                    // One reply for every recipient, kept as text in the transaction's
                    // reused buffer: no allocation.
                    self.deliver_transaction(id, reply);
                    self.complete(id);
                }
                _ if class >= 4 => {
                    self.fail_transaction(id, negative(reply));
                    self.complete(id);
                }
                _ => {
                    // The whole message went out and the reply is not one RFC 5321 allows:
                    // it may or may not have been taken.
                    self.fail_transaction(id, Outcome::Ambiguous(Failure::Reply(reply.to_reply())));
                    self.complete(id);
                    self.unexpected(Phase::DataTermination, reply, now);
                }
            },
            Expect::Bdat(id, false, _) => match code {
                250 => {}
                _ if class >= 4 => {
                    // RFC 3030 §2: no further chunks after a failed one; reset.
                    if self.fail_transaction(id, negative(reply)) {
                        self.reset(id, now);
                    }
                }
                _ => self.unexpected(Phase::DataBlock, reply, now),
            },
            Expect::LmtpDataEnd(id, index, _) => self.lmtp_data_reply(id, index, reply, now),
            Expect::DiscardedData => {}
            Expect::Rset => {
                if code != 250 {
                    self.unexpected(Phase::Reset, reply, now);
                }
            }
            Expect::Quit => self.close(None),
        }
        self.advance(now);
    }

    /// Whether HELO may replace a refused EHLO: only where nothing needs STARTTLS.
    fn helo_allowed(&self) -> bool {
        self.secure
            || matches!(
                self.config.tls,
                TlsPolicy::Disabled | TlsPolicy::Opportunistic
            )
    }

    pub(super) fn unexpected(&mut self, phase: Phase, reply: ReplyRef<'_>, now: Instant) {
        let reply = reply.to_reply();
        // After a 354 the server reads anything as message content: a QUIT would be text.
        let send_quit = reply.code().get() != START_MAIL_INPUT;
        self.fail(
            SessionError::UnexpectedReply { phase, reply },
            now,
            send_quit,
        );
    }

    /// EHLO or HELO succeeded: STARTTLS per policy, then AUTH, then transactions.
    fn hello_done(&mut self, capabilities: Capabilities, now: Instant) {
        let offers_starttls = capabilities.starttls;
        self.capabilities = Some(capabilities);
        if !self.secure {
            match self.config.tls {
                TlsPolicy::Opportunistic | TlsPolicy::Required if offers_starttls => {
                    let r = command::encode(&Command::StartTls, &mut self.transmit);
                    self.after_encode(r, Expect::StartTls, now);
                    return;
                }
                TlsPolicy::Required => {
                    self.fail(SessionError::StartTlsUnavailable, now, true);
                    return;
                }
                _ => {}
            }
        }
        self.authenticate_or_establish(now);
    }

    pub(super) fn send_hello(&mut self, expect: Expect, now: Instant) {
        let hello = if expect == Expect::Helo {
            Command::Helo(&self.config.client_id)
        } else if self.config.protocol == Protocol::Lmtp {
            Command::Lhlo(&self.config.client_id)
        } else {
            Command::Ehlo(&self.config.client_id)
        };
        let r = command::encode(&hello, &mut self.transmit);
        self.after_encode(r, expect, now);
    }

    fn authenticate_or_establish(&mut self, now: Instant) {
        let Some(credentials) = self.config.credentials.as_ref() else {
            self.establish(now);
            return;
        };
        if !self.secure && !self.config.allow_plaintext_auth {
            self.fail(SessionError::AuthRequiresTls, now, true);
            return;
        }
        let offered = self
            .capabilities
            .as_ref()
            .map(|c| c.auth.clone())
            .unwrap_or_default();
        let scram = self.config.scram.as_ref();
        let Some(mechanism) =
            crate::sasl::choose_mechanism_with_scram(&offered, credentials, scram.is_some())
        else {
            self.fail(SessionError::AuthUnavailable { offered }, now, true);
            return;
        };
        let mut client = match crate::sasl::SaslClient::start(mechanism, credentials, scram) {
            Ok(client) => client,
            Err(e) => {
                self.fail(SessionError::Credentials(e), now, true);
                return;
            }
        };
        let initial = client.initial_response();
        let mut encoded = Vec::new();
        if let Some(initial) = &initial {
            crate::base64::encode(initial, &mut encoded);
        }
        let name = client.mechanism().name();
        let with_initial = Command::Auth {
            mechanism: name,
            initial_response: initial.as_ref().map(|_| encoded.as_slice()),
        };
        let mut deferred_initial = None;
        let line_start = self.transmit_end();
        let r = match command::encode(&with_initial, &mut self.transmit) {
            Ok(()) if initial.is_some() => {
                // `AUTH mechanism response CRLF`: the response is the secret.
                let start = line_start + b"AUTH ".len() as u64 + name.len() as u64 + 1;
                let end = self.transmit_end().saturating_sub(2);
                self.labels.mark(start, end, TransmitLabel::Secret);
                Ok(())
            }
            // RFC 4954 §4: an initial response that would overflow the command line is sent
            // after an empty 334 challenge instead.
            Err(CommandError::LineTooLong { .. }) => {
                deferred_initial = initial;
                let bare = Command::Auth {
                    mechanism: name,
                    initial_response: None,
                };
                command::encode(&bare, &mut self.transmit)
            }
            r => r,
        };
        self.state = State::Authenticating(AuthState {
            client,
            deferred_initial,
            cancelled: None,
        });
        self.after_encode(r, Expect::Auth, now);
    }

    fn answer_challenge(&mut self, reply: ReplyRef<'_>, now: Instant) {
        let State::Authenticating(auth) = &mut self.state else {
            return self.unexpected(Phase::Auth, reply, now);
        };
        let response = match auth.deferred_initial.take() {
            Some(initial) => Ok(initial),
            None => {
                let challenge = reply.first_line().trim();
                auth.client.respond(challenge.as_bytes())
            }
        };
        match response {
            Ok(response) => {
                let mut encoded = Vec::new();
                crate::base64::encode(&response, &mut encoded);
                let start = self.transmit_end();
                let r = command::encode_auth_response(&encoded, &mut self.transmit);
                if r.is_ok() {
                    // The response line without its CRLF (an empty one has no secret).
                    let end = self.transmit_end().saturating_sub(2);
                    self.labels.mark(start, end, TransmitLabel::Secret);
                }
                self.after_encode(r, Expect::Auth, now);
            }
            Err(e) => {
                // RFC 4954 §4: cancel with `*`, then read the server's 501. Never answer a
                // challenge with anything else (a LOGIN server takes any line for data).
                auth.cancelled = Some(e);
                let r = command::encode_auth_response(b"*", &mut self.transmit);
                self.after_encode(r, Expect::Auth, now);
            }
        }
    }

    fn auth_cancelled(&self) -> bool {
        matches!(&self.state, State::Authenticating(auth) if auth.cancelled.is_some())
    }

    /// The server answered the `*` that cancelled AUTH: the session ends with the reason.
    fn cancel_answered(&mut self, now: Instant) {
        let reason = match &mut self.state {
            State::Authenticating(auth) => auth.cancelled.take(),
            _ => None,
        };
        if let Some(reason) = reason {
            self.fail(SessionError::Sasl(reason), now, true);
        }
    }

    /// 235: established, unless the mechanism has not seen the server prove itself (SCRAM
    /// without a verified `v=`): then the session ends and nothing but QUIT goes out.
    fn auth_succeeded(&mut self, now: Instant) {
        let verdict = match &self.state {
            State::Authenticating(auth) => auth.client.finish(),
            _ => Ok(()),
        };
        match verdict {
            Ok(()) => self.establish(now),
            Err(e) => self.fail(SessionError::Sasl(e), now, true),
        }
    }

    fn establish(&mut self, now: Instant) {
        self.state = State::Established;
        self.events.push_back(Event::Established);
        self.refresh_deadline(now);
    }

    pub(super) fn pipelining(&self) -> bool {
        self.config.pipelining && self.capabilities.as_ref().is_some_and(|c| c.pipelining)
    }

    /// Start the next queued transaction, or QUIT, when the session is free to.
    pub(super) fn advance(&mut self, now: Instant) {
        if !matches!(self.state, State::Established) {
            return;
        }
        // One transaction at a time in its commands or body; under PIPELINING the next may
        // start while the last one waits for its final reply.
        if self.running.iter().any(|t| t.stage != Stage::Finishing) {
            return;
        }
        if !self.pipelining() && !self.expect.is_empty() {
            return;
        }
        if self.may_stream() && !self.window_admits() {
            return;
        }
        if let Some((id, envelope, origin)) = self.continuations.pop_front() {
            self.start_transaction(id, envelope, Some(origin), now);
        } else if let Some((id, envelope)) = self.queued.pop_front() {
            self.start_transaction(id, envelope, None, now);
        } else if self.quit_requested && !self.running.iter().any(has_later_part) {
            let r = command::encode(&Command::Quit, &mut self.transmit);
            self.state = State::Quitting;
            self.after_encode(r, Expect::Quit, now);
        }
    }

    /// On TLS whose certificate the caller verified: the policy says it verifies, and the
    /// handshake is done (RFC 8689 §4.2.1 asks for DANE or PKIX validation).
    fn verified_tls(&self) -> bool {
        self.secure && matches!(self.config.tls, TlsPolicy::Required | TlsPolicy::Implicit)
    }

    /// May a REQUIRETLS transaction go to this server: verified TLS, and REQUIRETLS offered
    /// in the EHLO after it (RFC 8689 §4.2.1).
    fn requiretls_possible(&self, capabilities: &Capabilities) -> bool {
        self.verified_tls() && capabilities.requiretls
    }

    /// Whether transactions can stream on this connection at all ([`super::TransactionWindow`]):
    /// SMTP, a window over one, and the server offers PIPELINING and CHUNKING.
    fn may_stream(&self) -> bool {
        self.config.window.streams()
            && self.config.protocol == Protocol::Smtp
            && self.pipelining()
            && self.capabilities.as_ref().is_some_and(|c| c.chunking)
    }

    /// Whether the window has room for one more transaction.
    fn window_admits(&self) -> bool {
        let in_flight = self
            .running
            .front()
            .map_or(0, |oldest| self.transmit_end().saturating_sub(oldest.start));
        self.config.window.admits(self.running.len(), in_flight)
    }

    /// Whether this envelope's transaction streams: it may, and its size is known to fit
    /// the window.
    fn streams(&self, envelope: &Envelope) -> bool {
        self.may_stream()
            && envelope
                .size
                .is_some_and(|size| size <= self.config.window.bytes)
    }

    fn start_transaction(
        &mut self,
        id: TransactionId,
        envelope: Envelope,
        origin: Option<Vec<usize>>,
        now: Instant,
    ) {
        // Borrowed, not cloned: a clone copies the server name, AUTH list and unknown
        // keywords on every transaction (core/benches/session_allocs.rs).
        let fallback = Capabilities::default();
        let capabilities = self.capabilities.as_ref().unwrap_or(&fallback);
        let local_refusal = match (envelope.size, capabilities.size_limit()) {
            (Some(size), Some(limit)) if size > limit => Some(Failure::TooLarge { size, limit }),
            _ if envelope.body == BodyType::EightBitMime && !capabilities.eight_bit_mime => {
                Some(Failure::EightBitUnsupported)
            }
            _ if envelope.body == BodyType::BinaryMime
                && !(capabilities.binary_mime && capabilities.chunking) =>
            {
                Some(Failure::BinaryUnsupported)
            }
            // Raw UTF-8 in the headers alone is sent as is, as Postfix does: only an address
            // cannot go without SMTPUTF8.
            _ if address_needs_smtputf8(&envelope) && !capabilities.smtputf8 => {
                Some(Failure::Utf8Unsupported)
            }
            _ if self.config.require_tls && !self.requiretls_possible(capabilities) => {
                Some(Failure::RequireTlsUnavailable {
                    verified_tls: self.verified_tls(),
                    offered: capabilities.requiretls,
                })
            }
            _ => None,
        };
        // BDAT wherever it helps: BINARYMIME needs it; with PIPELINING it saves DATA's
        // round trip and dot-stuffing, for a message of any size (one too large to stream
        // waits for its RCPT replies first). Without PIPELINING each chunk would wait for
        // its reply, so DATA stays unless chunking is asked for.
        let streamed = self.streams(&envelope);
        let chunked = envelope.body == BodyType::BinaryMime
            || (self.config.chunking && capabilities.chunking)
            || self.may_stream();
        let (mut mail, rcpt) = parameters(&envelope, capabilities);
        mail.requiretls = self.config.require_tls;
        let round = envelope
            .recipients
            .len()
            .min(capabilities.rcpt_max.unwrap_or(RCPT_PER_TRANSACTION).max(1));
        let Buffers {
            mut recipients,
            text,
        } = self.take_buffers();
        if let Some(failure) = local_refusal {
            recipients.extend(
                envelope
                    .recipients
                    .iter()
                    .map(|_| RecipientState::Done(Outcome::Rejected(failure.clone()).into())),
            );
            self.report(id, origin.as_deref(), envelope, recipients, text);
            self.advance(now);
            return;
        }
        self.scratch.clear();
        let start = self.transmit_end();
        if streamed && self.running.iter().any(|t| t.streamed) {
            // The transaction in flight may have been refused at BDAT LAST with its MAIL
            // left open: start from a clean state (see the window's module docs).
            let r = command::encode(&Command::Rset, &mut self.transmit);
            self.after_encode(r, Expect::Rset, now);
        }
        let r = command::encode(&Command::Mail(&envelope.from, &mail), &mut self.transmit);
        let pipelining = self.pipelining();
        let count = envelope.recipients.len();
        // The buffers are recycled: after the first transactions, none of this allocates.
        recipients.resize(round, RecipientState::Pending);
        recipients.resize(count, RecipientState::Later);
        self.encoder = crate::transparency::DataEncoder::new(if chunked {
            crate::transparency::Framing::Bdat
        } else {
            crate::transparency::Framing::Data
        });
        self.running.push_back(Transaction {
            id,
            stage: Stage::Commands,
            recipients,
            failed: None,
            text,
            chunked,
            binary: envelope.body == BodyType::BinaryMime,
            rcpt_outstanding: round,
            streamed,
            start,
            round,
            origin,
            envelope,
        });
        self.after_encode(r, Expect::Mail(id), now);
        if pipelining {
            for index in 0..round {
                self.send_rcpt(id, index, &rcpt, now);
            }
            if !chunked {
                let r = command::encode(&Command::Data, &mut self.transmit);
                self.after_encode(r, Expect::Data(id), now);
            } else if streamed {
                // RFC 3030 §5: BDAT may follow the RCPTs before their replies.
                self.begin_body(id, now);
            }
        }
    }

    fn send_rcpt(&mut self, id: TransactionId, index: usize, params: &RcptParams, now: Instant) {
        let Some(tx) = self.running.iter().find(|t| t.id == id) else {
            return;
        };
        let Some(to) = tx
            .envelope
            .recipients
            .get(index)
            .filter(|_| index < tx.round)
        else {
            return;
        };
        let r = command::encode(&Command::Rcpt(to, params), &mut self.transmit);
        self.after_encode(r, Expect::Rcpt(id, index), now);
    }

    /// Lock-step (no PIPELINING): send RCPT number `index`.
    fn send_next_rcpt(&mut self, id: TransactionId, index: usize, now: Instant) {
        let fallback = Capabilities::default();
        let capabilities = self.capabilities.as_ref().unwrap_or(&fallback);
        let Some(tx) = self.running.iter().find(|t| t.id == id) else {
            return;
        };
        let (_, rcpt) = parameters(&tx.envelope, capabilities);
        self.send_rcpt(id, index, &rcpt, now);
    }

    fn rcpt_answered(
        &mut self,
        id: TransactionId,
        index: usize,
        state: RecipientState,
        now: Instant,
    ) {
        let pipelining = self.pipelining();
        let Some(tx) = self.running.iter_mut().find(|t| t.id == id) else {
            return;
        };
        if tx.failed.is_none() {
            if let Some(slot) = tx.recipients.get_mut(index) {
                *slot = state;
            }
        }
        tx.rcpt_outstanding = tx.rcpt_outstanding.saturating_sub(1);
        if tx.rcpt_outstanding > 0 {
            if !pipelining {
                self.send_next_rcpt(id, index + 1, now);
            }
            return;
        }
        let chunked = tx.chunked;
        let accepted = tx.failed.is_none()
            && tx
                .recipients
                .iter()
                .any(|r| matches!(r, RecipientState::Accepted));
        if tx.streamed {
            // The content is already on its way: the reply to BDAT settles the transaction,
            // unless nobody was accepted while the content is still being handed over.
            if !accepted && tx.stage == Stage::Body {
                self.stop_streamed_body(id, now);
            }
            return;
        }
        match (accepted, chunked, pipelining) {
            (true, true, _) => self.begin_body(id, now),
            (true, false, false) => {
                let r = command::encode(&Command::Data, &mut self.transmit);
                self.after_encode(r, Expect::Data(id), now);
            }
            // Pipelined DATA is already on its way: its reply decides.
            (_, false, true) => {}
            (false, _, _) => self.reset(id, now),
        }
    }

    /// Whether `id` is streamed and its content is still being handed over.
    fn in_streamed_body(&self, id: TransactionId) -> bool {
        self.running
            .iter()
            .any(|t| t.id == id && t.streamed && t.stage == Stage::Body)
    }

    /// A streamed transaction failed as a whole (MAIL refused, every RCPT refused) while its
    /// content was still being handed over: no more of it goes out, BDAT LAST never does,
    /// and RSET clears the chunks already sent (RFC 3030 §2). Their replies, and the
    /// RCPTs', are read and find the transaction settled.
    fn stop_streamed_body(&mut self, id: TransactionId, now: Instant) {
        self.scratch.clear();
        self.encoder.reset();
        self.reset(id, now);
    }

    fn has_accepted(&self, id: TransactionId) -> bool {
        self.running.iter().find(|t| t.id == id).is_some_and(|t| {
            t.failed.is_none()
                && t.recipients
                    .iter()
                    .any(|r| matches!(r, RecipientState::Accepted))
        })
    }

    fn begin_body(&mut self, id: TransactionId, now: Instant) {
        if let Some(tx) = self.running.iter_mut().find(|t| t.id == id) {
            tx.stage = Stage::Body;
        }
        self.content = crate::transparency::ContentScan::new();
        self.body_start = self.transmit_end();
        self.refresh_deadline(now);
    }

    /// Give up the body being sent: see [`Session::body_failed`] and the module docs.
    pub(super) fn abandon_body(&mut self, error: BodyError, now: Instant) {
        let Some(tx) = self.running.iter_mut().find(|t| t.stage == Stage::Body) else {
            return;
        };
        let id = tx.id;
        let chunked = tx.chunked;
        tx.stage = Stage::Finishing;
        tx.failed = Some(Verdict::Outcome(match error {
            BodyError::Unreadable(_) => Outcome::Deferred(Failure::Body(error)),
            _ => Outcome::Rejected(Failure::Body(error)),
        }));
        self.scratch.clear();
        self.encoder.reset();
        if chunked {
            // RFC 3030 §4: RSET ends a BDAT transaction whose LAST chunk never came.
            self.reset(id, now);
            self.advance(now);
        } else {
            // Keep what was queued before the body (nothing of it is content), drop the rest.
            let keep = self.body_start.saturating_sub(self.transmitted) as usize;
            self.transmit
                .truncate((self.transmit_start + keep).min(self.transmit.len()));
            self.labels.truncate(self.transmit_end());
            self.complete(id);
            self.fail(SessionError::Aborted, now, false);
        }
    }

    pub(super) fn body_progress(&mut self, now: Instant) {
        if self.expect.is_empty() {
            self.refresh_deadline(now);
        }
    }

    pub(super) fn send_bdat_chunk(&mut self, id: TransactionId, last: bool, now: Instant) {
        let size = self.scratch.len() as u64;
        let r = command::encode(&Command::Bdat { size, last }, &mut self.transmit);
        if r.is_ok() {
            let start = self.transmit_end();
            self.transmit.extend_from_slice(&self.scratch);
            self.labels
                .mark(start, self.transmit_end(), TransmitLabel::Content);
        }
        self.scratch.clear();
        let end = self.transmit_end();
        if last && r.is_ok() && self.config.protocol == Protocol::Lmtp {
            // RFC 2033 §4.2 with RFC 3030: BDAT LAST is answered once per recipient.
            self.expect_lmtp_replies(id, end, now);
            return;
        }
        self.after_encode(r, Expect::Bdat(id, last, end), now);
    }

    /// Every recipient of `id` not yet decided gets `outcome` (accepted ones included).
    /// Returns false when the transaction had already failed or is gone.
    fn fail_transaction(&mut self, id: TransactionId, outcome: Outcome) -> bool {
        let Some(tx) = self.running.iter_mut().find(|t| t.id == id) else {
            return false;
        };
        if tx.failed.is_some() {
            return false;
        }
        tx.failed = Some(Verdict::Outcome(outcome));
        true
    }

    /// The end of data of `id` was answered 250: every recipient not yet decided is
    /// delivered, with this reply (kept as text in the transaction's buffer).
    fn deliver_transaction(&mut self, id: TransactionId, reply: ReplyRef<'_>) {
        let Some(tx) = self.running.iter_mut().find(|t| t.id == id) else {
            return;
        };
        if tx.failed.is_none() {
            tx.failed = Some(Verdict::Delivered(KeptReply::keep(&mut tx.text, reply)));
        }
    }

    /// Reset after a transaction that went nowhere, and report it.
    fn reset(&mut self, id: TransactionId, now: Instant) {
        // After QUIT went out (pipelined behind a final dot), there is nothing to reset.
        if !matches!(self.state, State::Quitting) {
            let r = command::encode(&Command::Rset, &mut self.transmit);
            self.after_encode(r, Expect::Rset, now);
        }
        self.complete(id);
    }

    /// The transaction's outcome is settled: report it and forget it. Recipients left for
    /// a later transaction (over the limit, or answered 452 while others were accepted)
    /// go in one, queued first, when this one made progress.
    pub(super) fn complete(&mut self, id: TransactionId) {
        let Some(position) = self.running.iter().position(|t| t.id == id) else {
            return;
        };
        let Some(mut tx) = self.running.remove(position) else {
            return;
        };
        // Recipients not sent yet go on unless the transaction failed as a whole (MAIL
        // refused, or what came after an accepted RCPT failed); those answered 452 go on
        // only when another was accepted, so every part settles someone and the parts end.
        let accepted = tx
            .recipients
            .iter()
            .any(|r| matches!(r, RecipientState::Accepted));
        let failed_whole = match &tx.failed {
            None | Some(Verdict::Delivered(_)) => false,
            Some(Verdict::Outcome(
                Outcome::Deferred(Failure::SenderRefused(_))
                | Outcome::Rejected(Failure::SenderRefused(_)),
            )) => true,
            Some(Verdict::Outcome(_)) => accepted,
        };
        // After QUIT there is no later part: a recipient answered 452 keeps that deferral
        // (QUIT waits for the RCPT replies where a later part could follow, so this is
        // only a guard).
        let quitting = matches!(self.state, State::Quitting);
        let mut later = Vec::new();
        for (index, state) in tx.recipients.iter_mut().enumerate() {
            match state {
                RecipientState::Later if failed_whole || quitting => {
                    *state = RecipientState::Pending
                }
                RecipientState::Later => later.push(index),
                RecipientState::TooMany(_) if accepted && !failed_whole && !quitting => {
                    *state = RecipientState::Later;
                    later.push(index);
                }
                _ => {}
            }
        }
        if !later.is_empty() {
            let origin: Vec<usize> = match &tx.origin {
                Some(origin) => later
                    .iter()
                    .filter_map(|&i| origin.get(i).copied())
                    .collect(),
                None => later.clone(),
            };
            let envelope = Envelope {
                from: tx.envelope.from.clone(),
                recipients: later
                    .iter()
                    .filter_map(|&i| tx.envelope.recipients.get(i).cloned())
                    .collect(),
                size: tx.envelope.size,
                body: tx.envelope.body,
                utf8_headers: tx.envelope.utf8_headers,
                dsn: DsnOptions::clone(&tx.envelope.dsn),
            };
            self.continuations.push_front((id, envelope, origin));
            // The caller's outcome waits for the last part: make sure it is collected.
            if tx.origin.is_none() && !self.splits.iter().any(|s| s.id == id) {
                let count = tx.recipients.len();
                let Buffers {
                    mut recipients,
                    text,
                } = self.take_buffers();
                recipients.resize(count, RecipientState::Pending);
                self.splits.push(Split {
                    id,
                    envelope: tx.envelope.clone(),
                    recipients,
                    text,
                });
            }
        }
        settle(&mut tx.recipients, tx.failed.as_ref(), || {
            Outcome::Deferred(Failure::Session(SessionError::ConnectionClosed(
                Phase::Mail,
            )))
        });
        self.report(
            id,
            tx.origin.as_deref(),
            tx.envelope,
            tx.recipients,
            tx.text,
        );
    }

    /// Outcomes settled for transaction `id` (`recipients`, their replies' text in `text`):
    /// to the caller at once, or, for a transaction that went out in parts, into its
    /// [`Split`] (`origin` maps positions to the caller's recipient indices), which is
    /// reported once every recipient has its outcome. A recipient left for a later part
    /// ([`RecipientState::Later`]) has no outcome here yet.
    fn report(
        &mut self,
        id: TransactionId,
        origin: Option<&[usize]>,
        envelope: Envelope,
        mut recipients: Vec<RecipientState>,
        text: String,
    ) {
        let Some(at) = self.splits.iter().position(|s| s.id == id) else {
            self.push_settled(Settled {
                id,
                envelope,
                recipients,
                text,
            });
            return;
        };
        let Some(split) = self.splits.get_mut(at) else {
            return;
        };
        for (i, state) in recipients.drain(..).enumerate() {
            let index = origin.map_or(Some(i), |o| o.get(i).copied());
            let Some(slot) = index.and_then(|x| split.recipients.get_mut(x)) else {
                continue;
            };
            match state {
                // The reply's text moves into the split's own buffer.
                RecipientState::Done(Verdict::Delivered(kept)) => {
                    let kept = KeptReply::keep(&mut split.text, kept.get(&text));
                    *slot = RecipientState::Done(Verdict::Delivered(kept));
                }
                done @ RecipientState::Done(_) => *slot = done,
                _ => {}
            }
        }
        let complete = split
            .recipients
            .iter()
            .all(|r| matches!(r, RecipientState::Done(_)));
        self.recycle(recipients, text);
        if complete {
            let split = self.splits.swap_remove(at);
            self.push_settled(Settled {
                id,
                envelope: split.envelope,
                recipients: split.recipients,
                text: split.text,
            });
        }
    }

    /// A reply settled the command it answered with `outcome` (a 421): apply it to that
    /// command's transaction.
    pub(super) fn settle_answered(&mut self, expect: Expect, outcome: Outcome) {
        match expect {
            Expect::Rcpt(id, index) | Expect::LmtpDataEnd(id, index, _) => {
                if let Some(tx) = self.running.iter_mut().find(|t| t.id == id) {
                    if let Some(slot) = tx.recipients.get_mut(index) {
                        *slot = RecipientState::Done(outcome.into());
                    }
                }
            }
            Expect::Mail(id)
            | Expect::Data(id)
            | Expect::DataEnd(id, _)
            | Expect::Bdat(id, _, _) => {
                self.fail_transaction(id, outcome);
            }
            _ => {}
        }
    }

    /// End the session with `error`: every transaction still open is settled (deferred, or
    /// ambiguous when its end of data had fully gone out), then [`Event::Closed`].
    pub(super) fn fail(&mut self, error: SessionError, now: Instant, send_quit: bool) {
        let _ = now;
        // A TLS start not yet taken by the caller must not be: after an injection found in
        // the same read as STARTTLS's 220, the caller would otherwise begin a handshake.
        self.events.retain(|e| !matches!(e, Event::StartTls));
        let transmitted = self.transmitted;
        let running: Vec<Transaction> = self.running.drain(..).collect();
        for mut tx in running {
            let end_sent = self.expect.iter().any(|e| match *e {
                Expect::DataEnd(id, end)
                | Expect::Bdat(id, true, end)
                | Expect::LmtpDataEnd(id, _, end) => id == tx.id && transmitted >= end,
                _ => false,
            });
            let failure = Failure::Session(error.clone());
            for state in &mut tx.recipients {
                if let RecipientState::Later = state {
                    *state = RecipientState::Done(session_outcome(&error).into());
                }
            }
            settle(&mut tx.recipients, tx.failed.as_ref(), || {
                if end_sent {
                    Outcome::Ambiguous(failure.clone())
                } else {
                    session_outcome(&error)
                }
            });
            self.report(
                tx.id,
                tx.origin.as_deref(),
                tx.envelope,
                tx.recipients,
                tx.text,
            );
        }
        while let Some((id, envelope, origin)) = self.continuations.pop_front() {
            self.report_all(id, Some(&origin), envelope, session_outcome(&error));
        }
        while let Some((id, envelope)) = self.queued.pop_front() {
            self.report_all(id, None, envelope, session_outcome(&error));
        }
        if send_quit {
            // Best effort, and no reply awaited: the session is over either way.
            let _ = command::encode(&Command::Quit, &mut self.transmit);
        }
        self.close(Some(error));
    }

    /// Report every recipient of a transaction that never started with `outcome`.
    fn report_all(
        &mut self,
        id: TransactionId,
        origin: Option<&[usize]>,
        envelope: Envelope,
        outcome: Outcome,
    ) {
        let Buffers {
            mut recipients,
            text,
        } = self.take_buffers();
        recipients.extend(
            envelope
                .recipients
                .iter()
                .map(|_| RecipientState::Done(outcome.clone().into())),
        );
        self.report(id, origin, envelope, recipients, text);
    }

    pub(super) fn close(&mut self, error: Option<SessionError>) {
        if matches!(self.state, State::Closed) {
            return;
        }
        self.state = State::Closed;
        self.expect.clear();
        self.expect_after.clear();
        self.deadline = None;
        self.events.push_back(Event::Closed(error));
    }

    /// After encoding a command into the transmit buffer: await its reply, or fail the
    /// session if it could not be encoded (only reachable with inputs `send_mail` did not check).
    fn after_encode(&mut self, result: Result<(), CommandError>, expect: Expect, now: Instant) {
        match result {
            Ok(()) => self.expect_reply(expect, now),
            Err(e) => self.fail(SessionError::Command(e), now, true),
        }
    }

    pub(super) fn expect_reply(&mut self, expect: Expect, now: Instant) {
        self.expect.push_back(expect);
        self.expect_after.push_back(self.transmit_end());
        if self.expect.len() == 1 {
            self.refresh_deadline(now);
        }
    }

    /// The offset in the transmit stream just after everything queued so far.
    pub(super) fn transmit_end(&self) -> u64 {
        self.transmitted + self.pending_transmit().len() as u64
    }

    /// Deadlines are per command: set when a command's reply becomes the one awaited, never
    /// extended by partial input (a server trickling bytes cannot stretch it).
    pub(super) fn refresh_deadline(&mut self, now: Instant) {
        let t = self.config.timeouts;
        let phase = match (self.expect.front(), &self.state) {
            (Some(e), _) => Some(phase_of(*e)),
            (None, State::TlsHandshake) => Some(Phase::TlsHandshake),
            (None, _) if self.running.iter().any(|t| t.stage == Stage::Body) => {
                Some(Phase::DataBlock)
            }
            _ => None,
        };
        self.deadline = phase.map(|phase| {
            let limit = match phase {
                Phase::Greeting => t.greeting,
                Phase::Mail => t.mail,
                Phase::Rcpt => t.rcpt,
                Phase::DataInitiation => t.data_initiation,
                Phase::DataBlock => t.data_block,
                Phase::DataTermination => t.data_termination,
                Phase::Quit => t.quit,
                Phase::Hello
                | Phase::StartTls
                | Phase::TlsHandshake
                | Phase::Auth
                | Phase::Reset => t.command,
            };
            (now.saturating_add(limit), phase)
        });
    }

    /// The phase the session is in, for naming a failure.
    pub(super) fn current_phase(&self) -> Phase {
        match (self.expect.front(), &self.state) {
            (Some(e), _) => phase_of(*e),
            (None, State::TlsHandshake) => Phase::TlsHandshake,
            (None, _) if self.running.iter().any(|t| t.stage == Stage::Body) => Phase::DataBlock,
            (None, State::Quitting) => Phase::Quit,
            _ => Phase::Mail,
        }
    }

    /// True when the only reply still awaited is QUIT's.
    pub(super) fn only_quit_pending(&self) -> bool {
        self.expect.iter().all(|e| *e == Expect::Quit) && self.running.is_empty()
    }
}

fn phase_of(expect: Expect) -> Phase {
    match expect {
        Expect::Greeting => Phase::Greeting,
        Expect::Ehlo | Expect::Helo => Phase::Hello,
        Expect::StartTls => Phase::StartTls,
        Expect::Auth => Phase::Auth,
        Expect::Mail(_) => Phase::Mail,
        Expect::Rcpt(..) => Phase::Rcpt,
        Expect::Data(_) => Phase::DataInitiation,
        Expect::Bdat(_, false, _) => Phase::DataBlock,
        Expect::DataEnd(..)
        | Expect::Bdat(_, true, _)
        | Expect::LmtpDataEnd(..)
        | Expect::DiscardedData => Phase::DataTermination,
        Expect::Rset => Phase::Reset,
        Expect::Quit => Phase::Quit,
    }
}

/// 4yz defers, 5yz rejects.
pub(super) fn negative(reply: ReplyRef<'_>) -> Outcome {
    let reply = reply.to_reply();
    if reply.code().is_transient() {
        Outcome::Deferred(Failure::Reply(reply))
    } else {
        Outcome::Rejected(Failure::Reply(reply))
    }
}

/// Whether a transaction may still go on in another one (recipients over the limit, or
/// answered 452): QUIT waits for it.
fn has_later_part(tx: &Transaction) -> bool {
    // A streamed transaction's RCPT replies may still hold a 452 that sends recipients
    // again in a further transaction, but only when another recipient of it can be
    // accepted: with one recipient, QUIT leaves with its BDAT LAST (a 452 then defers it,
    // as it would anyway), which saves every such session its last round trip.
    (tx.rcpt_outstanding > 0 && tx.round > 1)
        || tx
            .recipients
            .iter()
            .any(|r| matches!(r, RecipientState::Later | RecipientState::TooMany(_)))
}

/// 4yz to MAIL defers, 5yz rejects: an answer about the whole transaction.
fn sender_refused(reply: ReplyRef<'_>) -> Outcome {
    let reply = reply.to_reply();
    if reply.code().is_transient() {
        Outcome::Deferred(Failure::SenderRefused(reply))
    } else {
        Outcome::Rejected(Failure::SenderRefused(reply))
    }
}

/// The outcome a session failure gives a recipient it settles: one rule,
/// [`SessionError::is_permanent`].
fn session_outcome(error: &SessionError) -> Outcome {
    if error.is_permanent() {
        Outcome::Rejected(Failure::Session(error.clone()))
    } else {
        Outcome::Deferred(Failure::Session(error.clone()))
    }
}

/// Every recipient decided: those with an outcome keep it (a 452 becomes its deferral);
/// the rest take the transaction's verdict (a failure, or delivery), or else `fallback`. A
/// recipient left for a later transaction ([`RecipientState::Later`]) gets none yet. In
/// place: the vector becomes the outcomes the caller borrows.
fn settle(
    recipients: &mut [RecipientState],
    failed: Option<&Verdict>,
    fallback: impl Fn() -> Outcome,
) {
    for state in recipients.iter_mut() {
        let verdict = match state {
            RecipientState::Done(_) | RecipientState::Later => continue,
            RecipientState::TooMany(_) => {
                match core::mem::replace(state, RecipientState::Pending) {
                    RecipientState::TooMany(outcome) => outcome.into(),
                    _ => continue,
                }
            }
            RecipientState::Pending | RecipientState::Accepted => {
                failed.cloned().unwrap_or_else(|| fallback().into())
            }
        };
        *state = RecipientState::Done(verdict);
    }
}

fn needs_smtputf8(envelope: &Envelope) -> bool {
    envelope.utf8_headers || address_needs_smtputf8(envelope)
}

/// An address with a non-ASCII local part (or domain) cannot be sent without SMTPUTF8.
fn address_needs_smtputf8(envelope: &Envelope) -> bool {
    matches!(&envelope.from, crate::address::ReversePath::Mailbox(m) if m.needs_smtputf8())
        || envelope.recipients.iter().any(|r| r.needs_smtputf8())
}

/// MAIL and RCPT parameters for this envelope, limited to what the server offers.
pub(super) fn parameters(
    envelope: &Envelope,
    capabilities: &Capabilities,
) -> (MailParams, RcptParams) {
    let dsn = capabilities.dsn;
    let mail = MailParams {
        size: envelope.size.filter(|_| capabilities.size.is_some()),
        body: match envelope.body {
            BodyType::EightBitMime if capabilities.eight_bit_mime => Some(BodyType::EightBitMime),
            BodyType::BinaryMime => Some(BodyType::BinaryMime),
            _ => None,
        },
        smtputf8: capabilities.smtputf8 && needs_smtputf8(envelope),
        ret: envelope.dsn.ret.filter(|_| dsn),
        envid: envelope.dsn.envid.clone().filter(|_| dsn),
        requiretls: false,
    };
    let rcpt = RcptParams {
        notify: envelope.dsn.notify.filter(|_| dsn),
        orcpt: None,
    };
    (mail, rcpt)
}
