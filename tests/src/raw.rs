//! A deliberately dumb SMTP line client over `std::net::TcpStream`, for checking the peers themselves
//! (and for tests that must send exactly the bytes they choose). It knows reply syntax, nothing else.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long any read or write may block before the test fails instead of hanging.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// One SMTP reply: the code and the text of each line (after `NNN-` / `NNN `).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawReply {
    /// The three-digit reply code.
    pub code: u16,
    /// The text of each line, without the code, separator and CRLF.
    pub lines: Vec<String>,
}

impl RawReply {
    /// Whether an EHLO reply lists `keyword` (case-insensitive) as an extension, i.e. as the first word
    /// of a line after the greeting line.
    pub fn has_extension(&self, keyword: &str) -> bool {
        self.lines.iter().skip(1).any(|line| {
            line.split_whitespace()
                .next()
                .is_some_and(|word| word.eq_ignore_ascii_case(keyword))
        })
    }
}

/// A connection that writes what it is told and reads replies.
#[derive(Debug)]
pub struct RawSmtp {
    reader: BufReader<TcpStream>,
}

impl RawSmtp {
    /// Connects (with timeouts set). Does not read the greeting: call [`RawSmtp::read_reply`].
    pub fn connect(addr: SocketAddr) -> io::Result<RawSmtp> {
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        Ok(RawSmtp {
            reader: BufReader::new(stream),
        })
    }

    /// Writes `bytes` as they are.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.reader.get_mut().write_all(bytes)
    }

    /// Writes `line` plus CRLF and reads the reply.
    pub fn command(&mut self, line: &str) -> io::Result<RawReply> {
        self.send(format!("{line}\r\n").as_bytes())?;
        self.read_reply()
    }

    /// Reads one (possibly multi-line) reply.
    pub fn read_reply(&mut self) -> io::Result<RawReply> {
        let mut lines = Vec::new();
        loop {
            let mut line = Vec::new();
            if self.reader.read_until(b'\n', &mut line)? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed",
                ));
            }
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\r', '\n']);
            let code = line
                .get(..3)
                .and_then(|c| c.parse::<u16>().ok())
                .ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidData, format!("not a reply: {line:?}"))
                })?;
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line.get(4..).unwrap_or_default().to_string());
            if last {
                return Ok(RawReply { code, lines });
            }
        }
    }

    /// The underlying stream (e.g. to shut it down).
    pub fn stream(&self) -> &TcpStream {
        self.reader.get_ref()
    }
}
