//! Streaming message writer: RFC 5322 headers and MIME (RFC 2045–2047, 2231).
//!
//! SKELETON: being written (issue 7).
