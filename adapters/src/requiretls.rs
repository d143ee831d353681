//! RFC 8689's `TLS-Required: No` header field: the sender's request that the recipient
//! domain's TLS policy (MTA-STS, DANE) not stop the message (§5).
//!
//! Honoured as the RFC says: only when REQUIRETLS is not asked for the same message (§5:
//! with REQUIRETLS the field is ignored); then a policy's failures do not defer the message,
//! it goes out as with opportunistic TLS, and the report says the policy was set aside.
//!
//! [`HeaderScan`] finds the field in the header block, fed in chunks (split-invariant, and
//! bounded: it stops at the blank line that ends the header, or after [`MAX_HEADER_SCAN`]
//! octets). A one-pass body ([`crate::BodySource::is_rereadable`] false) is not scanned, so
//! its header is not honoured.

/// How far into a message the header block is looked for.
pub const MAX_HEADER_SCAN: usize = 256 * 1024;

/// A scan of a header block for `TLS-Required: No`.
#[derive(Debug, Default)]
pub struct HeaderScan {
    /// The current (unfolded) field so far, lower case, capped.
    field: Vec<u8>,
    /// The last octet seen was a line end.
    at_line_start: bool,
    /// The header has ended (a blank line, or the cap).
    done: bool,
    found: bool,
    seen: usize,
}

/// Longest field worth keeping: `tls-required:` and a short value.
const MAX_FIELD: usize = 64;

impl HeaderScan {
    /// A scan at the first octet of a message.
    pub fn new() -> HeaderScan {
        HeaderScan {
            at_line_start: true,
            ..HeaderScan::default()
        }
    }

    /// Feed the next octets; true once the answer is known (call [`HeaderScan::found`]).
    pub fn feed(&mut self, bytes: &[u8]) -> bool {
        for &b in bytes {
            if self.done {
                break;
            }
            self.seen += 1;
            if self.seen > MAX_HEADER_SCAN {
                self.end_field();
                self.done = true;
                break;
            }
            match b {
                b'\r' => {}
                b'\n' if self.at_line_start => {
                    // A blank line: the header is over.
                    self.end_field();
                    self.done = true;
                }
                b'\n' => self.at_line_start = true,
                b' ' | b'\t' if self.at_line_start => {
                    // A folded continuation of the same field.
                    self.at_line_start = false;
                    self.push(b' ');
                }
                _ => {
                    if self.at_line_start {
                        self.end_field();
                        self.at_line_start = false;
                    }
                    self.push(b.to_ascii_lowercase());
                }
            }
        }
        self.done
    }

    /// The end of the message (a message with no body): the last field is complete.
    pub fn finish(&mut self) {
        self.end_field();
        self.done = true;
    }

    /// Did the header hold `TLS-Required: No`?
    pub fn found(&self) -> bool {
        self.found
    }

    fn push(&mut self, b: u8) {
        if self.field.len() < MAX_FIELD {
            self.field.push(b);
        }
    }

    fn end_field(&mut self) {
        if let Some(value) = self.field.strip_prefix(b"tls-required:") {
            // RFC 8689 §5: `"TLS-Required:" [FWS] "No" CRLF`.
            if value.trim_ascii() == b"no" {
                self.found = true;
            }
        }
        self.field.clear();
    }
}

/// Does the content read from `reader` say `TLS-Required: No`?
pub fn says_tls_optional(mut reader: impl std::io::Read) -> std::io::Result<bool> {
    let mut scan = HeaderScan::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = reader.read(&mut buf)?;
        let Some(chunk) = buf.get(..n).filter(|c| !c.is_empty()) else {
            scan.finish();
            return Ok(scan.found());
        };
        if scan.feed(chunk) {
            return Ok(scan.found());
        }
    }
}

/// Does this message say `TLS-Required: No`, and does that count for `mx` (a policy is
/// consulted, REQUIRETLS is not asked)? A body that cannot be read twice, or not at all now,
/// is not scanned: its delivery then fails or succeeds on its own.
#[cfg(feature = "blocking")]
pub(crate) fn tls_optional<B: crate::BodySource>(mx: &crate::MxDelivery, body: &B) -> bool {
    if mx.require_tls || mx.mta_sts.is_none() || !body.is_rereadable() {
        return false;
    }
    body.open().and_then(says_tls_optional).unwrap_or(false)
}

/// [`tls_optional`] for the async runtimes' bodies.
#[cfg(feature = "aio")]
pub(crate) async fn tls_optional_async<B: crate::AsyncBodySource>(
    mx: &crate::MxDelivery,
    body: &B,
) -> bool {
    use futures_lite::AsyncReadExt;
    if mx.require_tls || mx.mta_sts.is_none() || !body.is_rereadable() {
        return false;
    }
    let Ok(mut reader) = body.open() else {
        return false;
    };
    let mut scan = HeaderScan::new();
    let mut buf = [0u8; 8192];
    loop {
        match reader.read(&mut buf).await {
            Ok(n) => match buf.get(..n).filter(|c| !c.is_empty()) {
                Some(chunk) => {
                    if scan.feed(chunk) {
                        return scan.found();
                    }
                }
                None => {
                    scan.finish();
                    return scan.found();
                }
            },
            Err(_) => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_in_pieces(message: &[u8], piece: usize) -> bool {
        let mut scan = HeaderScan::new();
        for chunk in message.chunks(piece) {
            if scan.feed(chunk) {
                return scan.found();
            }
        }
        scan.finish();
        scan.found()
    }

    #[test]
    fn finds_the_field_however_the_message_is_split() {
        let message = b"From: a@example.test\r\nTLS-Required:   No\r\nSubject: x\r\n\r\nbody\r\n";
        for piece in 1..message.len() {
            assert!(scan_in_pieces(message, piece), "piece {piece}");
        }
    }

    #[test]
    fn only_no_in_the_header_counts() {
        assert!(!scan_in_pieces(b"TLS-Required: Yes\r\n\r\n", 4));
        assert!(!scan_in_pieces(
            b"Subject: x\r\n\r\nTLS-Required: No\r\n",
            4
        ));
        assert!(!scan_in_pieces(b"X-TLS-Required: No\r\n\r\n", 4));
        assert!(scan_in_pieces(b"tls-required:\r\n no\r\n\r\n", 3));
        assert!(scan_in_pieces(b"Subject: x\nTLS-Required: NO", 5));
    }

    #[test]
    fn reads_no_further_than_the_header() {
        let mut reader: &[u8] = b"Subject: x\r\n\r\nTLS-Required: No\r\n";
        assert!(!says_tls_optional(&mut reader).unwrap());
    }
}
