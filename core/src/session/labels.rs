//! What the bytes the session hands out are: command lines, message content, or secrets.
//!
//! A transcript (or a trace) must tell a command from a line of the message, and must never
//! show a password: rather than have every caller re-parse SMTP from the raw bytes (and
//! guess which line answers a `334`), the session labels what it writes as it writes it.
//! [`Session::pending_transmit_spans`](super::Session::pending_transmit_spans) gives the
//! labels of [`Session::pending_transmit`](super::Session::pending_transmit), span by span,
//! covering exactly its bytes.
//!
//! Only content and secrets are recorded, as ranges of the session's output stream
//! (absolute offsets, so writing bytes out never renumbers them); every byte outside them is
//! a command. The ranges live in a queue that keeps its capacity: once a session has sent a
//! message or two, labelling allocates nothing.

use alloc::collections::VecDeque;

/// What a span of the bytes to transmit is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransmitLabel {
    /// Command lines (and the end of data `.`, and an AUTH cancel `*`).
    Command,
    /// Message content: a DATA body as sent (dot-stuffed, CRLF line ends), or BDAT chunk
    /// octets.
    Content,
    /// A secret: a SASL response, the initial response on an `AUTH` line included (the
    /// line's CRLF is not part of it).
    Secret,
}

/// A run of pending transmit bytes with one label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransmitSpan {
    /// What these bytes are.
    pub label: TransmitLabel,
    /// How many bytes.
    pub len: usize,
}

/// A range of the output stream that is not a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Mark {
    start: u64,
    end: u64,
    label: TransmitLabel,
}

/// The content and secret ranges of the output stream still pending, in order and
/// disjoint.
#[derive(Clone, Debug, Default)]
pub(super) struct Labels {
    marks: VecDeque<Mark>,
}

impl Labels {
    /// The output stream's bytes `start..end` are `label` (a command needs no mark). Joins
    /// a mark that ends where this one starts with the same label.
    pub fn mark(&mut self, start: u64, end: u64, label: TransmitLabel) {
        if start >= end || label == TransmitLabel::Command {
            return;
        }
        if let Some(last) = self.marks.back_mut() {
            if last.end == start && last.label == label {
                last.end = end;
                return;
            }
        }
        self.marks.push_back(Mark { start, end, label });
    }

    /// Everything before `written` went out: forget its marks.
    pub fn written(&mut self, written: u64) {
        while let Some(first) = self.marks.front_mut() {
            if first.end <= written {
                self.marks.pop_front();
            } else {
                first.start = first.start.max(written);
                return;
            }
        }
    }

    /// The output stream now ends at `end` (what was queued after it was dropped).
    pub fn truncate(&mut self, end: u64) {
        while let Some(last) = self.marks.back_mut() {
            if last.start >= end {
                self.marks.pop_back();
            } else {
                last.end = last.end.min(end);
                return;
            }
        }
    }

    /// Nothing is pending any more.
    pub fn clear(&mut self) {
        self.marks.clear();
    }

    /// The spans of the stream's bytes `start..end`.
    pub fn spans(&self, start: u64, end: u64) -> TransmitSpans<'_> {
        TransmitSpans {
            marks: self.marks.iter(),
            next: None,
            at: start,
            end,
        }
    }
}

/// The labels of [`Session::pending_transmit`](super::Session::pending_transmit), span by
/// span, from its first byte to its last (their lengths add up to its length).
#[derive(Clone, Debug)]
pub struct TransmitSpans<'a> {
    marks: alloc::collections::vec_deque::Iter<'a, Mark>,
    /// The mark looked at but not yet reached.
    next: Option<&'a Mark>,
    at: u64,
    end: u64,
}

impl Iterator for TransmitSpans<'_> {
    type Item = TransmitSpan;

    fn next(&mut self) -> Option<TransmitSpan> {
        if self.at >= self.end {
            return None;
        }
        let mark = loop {
            match self.next.take().or_else(|| self.marks.next()) {
                Some(mark) if mark.end <= self.at => continue,
                other => break other,
            }
        };
        let (label, until) = match mark {
            Some(mark) if mark.start <= self.at => (mark.label, mark.end),
            Some(mark) => {
                self.next = Some(mark);
                (TransmitLabel::Command, mark.start)
            }
            None => (TransmitLabel::Command, self.end),
        };
        let until = until.min(self.end);
        let len = usize::try_from(until - self.at).unwrap_or(usize::MAX);
        self.at = until;
        Some(TransmitSpan { label, len })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn spans(labels: &Labels, start: u64, end: u64) -> Vec<(TransmitLabel, usize)> {
        labels.spans(start, end).map(|s| (s.label, s.len)).collect()
    }

    #[test]
    fn unmarked_bytes_are_one_command_span() {
        let labels = Labels::default();
        assert_eq!(spans(&labels, 10, 25), [(TransmitLabel::Command, 15)]);
        assert_eq!(spans(&labels, 3, 3), []);
    }

    #[test]
    fn marks_split_the_commands_and_adjacent_ones_join() {
        let mut labels = Labels::default();
        labels.mark(5, 8, TransmitLabel::Secret);
        labels.mark(10, 12, TransmitLabel::Content);
        labels.mark(12, 20, TransmitLabel::Content);
        assert_eq!(
            spans(&labels, 0, 23),
            [
                (TransmitLabel::Command, 5),
                (TransmitLabel::Secret, 3),
                (TransmitLabel::Command, 2),
                (TransmitLabel::Content, 10),
                (TransmitLabel::Command, 3),
            ]
        );
        // From inside a mark, and ending inside one.
        labels.written(6);
        assert_eq!(
            spans(&labels, 6, 15),
            [
                (TransmitLabel::Secret, 2),
                (TransmitLabel::Command, 2),
                (TransmitLabel::Content, 5),
            ]
        );
        labels.written(20);
        assert_eq!(spans(&labels, 20, 23), [(TransmitLabel::Command, 3)]);
    }

    #[test]
    fn truncating_drops_and_shortens_marks() {
        let mut labels = Labels::default();
        labels.mark(0, 4, TransmitLabel::Content);
        labels.mark(6, 9, TransmitLabel::Secret);
        labels.truncate(2);
        assert_eq!(spans(&labels, 0, 2), [(TransmitLabel::Content, 2)]);
        labels.mark(2, 3, TransmitLabel::Content);
        assert_eq!(
            spans(&labels, 0, 5),
            [(TransmitLabel::Content, 3), (TransmitLabel::Command, 2)]
        );
    }
}
