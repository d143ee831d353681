//! Shared pieces of the mxsend-core fuzz targets: how an input is cut into chunks, a heap
//! counter for memory-bound checks, and reference implementations the targets compare
//! the core against.
//!
//! The targets live in `fuzz_targets/`; `run.sh` runs them all (see its header).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// An input cut into chunks at points the input itself chooses, so libFuzzer explores
/// split points the way it explores content.
///
/// Layout: the first byte, modulo 8, is how many size bytes follow (`h`); each size byte
/// `s` gives a chunk of `s % 64 + 1` octets, used in turn and cycled. With `h == 0` the
/// rest is one chunk. Everything after the header is the payload.
#[derive(Clone, Copy, Debug)]
pub struct Chunked<'a> {
    sizes: &'a [u8],
    /// The bytes to be cut.
    pub payload: &'a [u8],
}

impl<'a> Chunked<'a> {
    /// Read the header from `data`.
    pub fn new(data: &'a [u8]) -> Chunked<'a> {
        let Some((&first, rest)) = data.split_first() else {
            return Chunked {
                sizes: &[],
                payload: &[],
            };
        };
        let h = usize::from(first % 8).min(rest.len());
        let (sizes, payload) = rest.split_at(h);
        Chunked { sizes, payload }
    }

    /// The payload's chunks, in order; their concatenation is the payload.
    pub fn chunks(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let sizes = self.sizes;
        let mut rest = self.payload;
        let mut i = 0;
        std::iter::from_fn(move || {
            if rest.is_empty() {
                return None;
            }
            let size = match sizes.get(i % sizes.len().max(1)) {
                Some(&s) => usize::from(s % 64) + 1,
                None => rest.len(),
            };
            i += 1;
            let (chunk, after) = rest.split_at(size.min(rest.len()));
            rest = after;
            Some(chunk)
        })
    }
}

/// The system allocator, counting the bytes currently allocated, so a target can check
/// what a value holds on the heap without knowing its fields.
pub struct CountingAllocator;

static LIVE: AtomicUsize = AtomicUsize::new(0);

impl CountingAllocator {
    /// Bytes allocated and not yet freed, by everything in the process.
    pub fn live() -> usize {
        LIVE.load(Ordering::Relaxed)
    }
}

// SAFETY: every call is forwarded to `System` unchanged; only a counter is updated.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            LIVE.fetch_add(new_size, Ordering::Relaxed);
        }
        p
    }
}

/// Reference CRLF normalisation (RFC 5321 §2.3.8), written as plainly as possible to
/// check the core's fast one: CRLF stays, a bare CR and a bare LF each become CRLF.
pub fn normalise_line_ends(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() * 2);
    let mut i = 0;
    while i < input.len() {
        match (input[i], input.get(i + 1)) {
            (b'\r', Some(b'\n')) => {
                out.extend_from_slice(b"\r\n");
                i += 2;
            }
            (b'\r' | b'\n', _) => {
                out.extend_from_slice(b"\r\n");
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// The offset of the first CR not followed by LF, or LF not preceded by CR.
pub fn first_bare_cr_or_lf(bytes: &[u8]) -> Option<usize> {
    bytes.iter().enumerate().position(|(i, &b)| match b {
        b'\r' => bytes.get(i + 1) != Some(&b'\n'),
        b'\n' => i == 0 || bytes[i - 1] != b'\r',
        _ => false,
    })
}

/// Show bytes for a panic message: printable ASCII as is, the rest escaped.
pub fn show(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_concatenate_to_the_payload() {
        let data = b"\x02\x00\x03hello world";
        let chunked = Chunked::new(data);
        let chunks: Vec<&[u8]> = chunked.chunks().collect();
        let expected: [&[u8]; 5] = [b"h", b"ello", b" ", b"worl", b"d"];
        assert_eq!(chunks, expected);
    }

    #[test]
    fn no_size_bytes_means_one_chunk() {
        let chunked = Chunked::new(b"\x08abc");
        assert_eq!(chunked.chunks().collect::<Vec<_>>(), [b"abc"]);
    }

    #[test]
    fn normalises_bare_cr_and_lf_but_keeps_crlf() {
        assert_eq!(
            normalise_line_ends(b"a\rb\nc\r\nd\r\r\n"),
            b"a\r\nb\r\nc\r\nd\r\n\r\n"
        );
    }

    #[test]
    fn finds_bare_line_ends() {
        assert_eq!(first_bare_cr_or_lf(b"a\r\nb"), None);
        assert_eq!(first_bare_cr_or_lf(b"\nb"), Some(0));
        assert_eq!(first_bare_cr_or_lf(b"ab\r"), Some(2));
        assert_eq!(first_bare_cr_or_lf(b"a\r\r\n"), Some(1));
    }
}
