//! Where to send: the MX selection policy (RFC 5321 §5.1, RFC 7505).
//!
//! SKELETON: being written (issue 4).
