//! A minimal HTTP/1.1 keep-alive connection for the timed phase.
//!
//! The load path does one thing: write a request that was serialised before
//! the clock started, and read one small answer. A general client does much
//! more per request: reqwest (through hyper-util's pool) hands every request
//! to a separate connection task and back, and builds and merges header maps.
//! On the project's 2-core machine, with ingest and Redis beside it, the bench
//! on reqwest cost 37–79 µs of CPU per request and the machine saturated at
//! ~13 000 OneBot webhooks/s; with this client it costs 17–39 µs and 20 000/s
//! is sustained. Here a sender task owns its socket: one `write` per request,
//! usually one `read` per answer, no task hop.
//!
//! Only what ingest (hyper) sends is understood: a status line, headers, and
//! a body framed by `Content-Length`, `Transfer-Encoding: chunked`, or
//! nothing (1xx, 204, 304). Anything else, an error, or `Connection: close`
//! drops the connection; the next request opens a new one, so one bad answer
//! cannot desynchronise the rest. `botq-bench send` keeps using reqwest,
//! where clear errors matter more than microseconds.

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest response head accepted; ingest's are a few hundred bytes.
const MAX_HEAD: usize = 16 * 1024;

/// One keep-alive connection, opened on first use and after any failure.
#[derive(Debug)]
pub struct Conn {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

impl Conn {
    #[must_use]
    pub fn new(addr: SocketAddr) -> Self {
        Self { addr, stream: None, buf: Vec::with_capacity(4096) }
    }

    /// Sends one serialised request and reads the whole answer; returns its status.
    ///
    /// # Errors
    /// Connect, I/O and framing errors; the connection is dropped after any.
    pub async fn roundtrip(&mut self, request: &[u8]) -> io::Result<u16> {
        let result = self.exchange(request).await;
        match result {
            Ok((status, keep_alive)) => {
                if !keep_alive {
                    self.stream = None;
                }
                Ok(status)
            }
            Err(e) => {
                self.stream = None;
                Err(e)
            }
        }
    }

    async fn exchange(&mut self, request: &[u8]) -> io::Result<(u16, bool)> {
        if self.stream.is_none() {
            let s = TcpStream::connect(self.addr).await?;
            s.set_nodelay(true)?;
            self.stream = Some(s);
            self.buf.clear();
        }
        let stream = self.stream.as_mut().ok_or_else(|| io::Error::other("no connection"))?;
        stream.write_all(request).await?;
        let head_len = loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                break end + 4;
            }
            if self.buf.len() > MAX_HEAD {
                return Err(bad("response head too large"));
            }
            read_more(stream, &mut self.buf).await?;
        };
        let head = parse_head(&self.buf[..head_len])?;
        self.buf.drain(..head_len);
        match head.framing {
            Framing::None => {}
            Framing::Length(n) => {
                while self.buf.len() < n {
                    read_more(stream, &mut self.buf).await?;
                }
                self.buf.drain(..n);
            }
            Framing::Chunked => loop {
                let Some(line_end) = find(&self.buf, b"\r\n") else {
                    read_more(stream, &mut self.buf).await?;
                    continue;
                };
                let size_text = std::str::from_utf8(&self.buf[..line_end]).map_err(|_| bad("chunk size"))?;
                let size_hex = size_text.split(';').next().unwrap_or("").trim();
                let size = usize::from_str_radix(size_hex, 16).map_err(|_| bad("chunk size"))?;
                // The chunk, or for the last one an empty trailer, ends in CRLF.
                let need = line_end + 2 + size + 2;
                while self.buf.len() < need {
                    read_more(stream, &mut self.buf).await?;
                }
                self.buf.drain(..need);
                if size == 0 {
                    break;
                }
            },
        }
        Ok((head.status, head.keep_alive))
    }
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<()> {
    if stream.read_buf(buf).await? == 0 {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed mid-response"));
    }
    Ok(())
}

/// How the body after a response head is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    None,
    Length(usize),
    Chunked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Head {
    status: u16,
    framing: Framing,
    keep_alive: bool,
}

/// Parses `HTTP/1.1 200 OK\r\nName: value\r\n…\r\n\r\n`.
fn parse_head(head: &[u8]) -> io::Result<Head> {
    let text = std::str::from_utf8(head).map_err(|_| bad("response head is not text"))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(bad("not an HTTP/1 response"));
    }
    let status: u16 = parts.next().and_then(|s| s.parse().ok()).ok_or_else(|| bad("status code"))?;
    let (mut length, mut chunked, mut close) = (None, false, version == "HTTP/1.0");
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').ok_or_else(|| bad("header line"))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse::<usize>().map_err(|_| bad("content-length"))?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().ends_with("chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        }
    }
    let framing = match (status, chunked, length) {
        (100..=199 | 204 | 304, _, _) => Framing::None,
        (_, true, _) => Framing::Chunked,
        (_, false, Some(n)) => Framing::Length(n),
        // Delimited by closing the connection: not something ingest sends.
        (_, false, None) => return Err(bad("response without a length")),
    };
    Ok(Head { status, framing, keep_alive: !close })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("malformed HTTP response: {what}"))
}

/// Serialises a POST of `body` to `path` with `headers`.
///
/// # Errors
/// A header name or value that would break the framing (CR, LF or NUL).
pub fn request(host: &str, path: &str, headers: &[(String, String)], body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(body.len() + 512);
    out.extend_from_slice(
        format!("POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\n", body.len()).as_bytes(),
    );
    for (k, v) in headers {
        if k.is_empty() || [k, v].iter().any(|s| s.bytes().any(|b| matches!(b, b'\r' | b'\n' | b'\0'))) {
            return Err(format!("header {k:?} cannot be sent: its name or value holds a line break"));
        }
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    Ok(out)
}

#[cfg(test)]
mod tests;
