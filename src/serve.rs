//! `plumbing serve`: a small static file server for the page (native only).
//!
//! The request head is parsed by `httparse` (hyper's parser), on bytes, so that no request can
//! make our own string handling panic. What is ours on purpose, and pure (the fuzzer calls it,
//! fuzz/fuzz_targets/serve.rs): only GET and HEAD; the request target confined to the served
//! directory (percent-decoded on bytes; no `..`, no absolute form, no NUL); the MIME table; and
//! the headers every answer carries. One request per connection (`Connection: close`).

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The most bytes a request head (request line and headers) may take.
pub const MAX_HEAD: usize = 8192;
/// The most header lines a request may have.
pub const MAX_HEADERS: usize = 64;
/// The most connections served at once; more get 503.
pub const MAX_CONNECTIONS: usize = 128;
/// How long a client may take to send its head, and to take each part of an answer.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

// connect-src blob:: the worker reads a GGUF the person chose or dropped through a blob: URL
// that this page made (only same-origin script can make one).
pub const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data: blob:; \
connect-src 'self' blob:; worker-src 'self' blob:; object-src 'none'; base-uri 'self'; form-action 'self'";

// ------------------------------------------------------------------------------------------------
// The pure part: bytes of a request head -> what to serve, or a refusal
// ------------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
}

/// A request this server answers: a method, and a path relative to the served directory made
/// only of normal components (no `..`, no root, no prefix, no NUL).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub method: Method,
    pub path: PathBuf,
}

/// A request refused: its status (4xx) and why, for the body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub message: String,
}

fn refuse(status: u16, message: impl Into<String>) -> Refusal {
    Refusal { status, message: message.into() }
}

/// Parses a request head. `None`: the head is not complete yet (read more bytes, at most
/// `MAX_HEAD` in all); otherwise the request to serve or the refusal to send.
pub fn parse_head(buf: &[u8]) -> Option<Result<Target, Refusal>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => None,
        Ok(httparse::Status::Partial) => Some(Err(if buf.contains(&b'\n') {
            refuse(431, format!("the request head is longer than {MAX_HEAD} bytes"))
        } else {
            refuse(414, format!("the request line is longer than {MAX_HEAD} bytes"))
        })),
        Ok(httparse::Status::Complete(_)) => {
            // Complete means method, path and version were all parsed.
            let (Some(method), Some(target)) = (req.method, req.path) else {
                return Some(Err(refuse(400, "malformed request line")));
            };
            Some(route(method, target))
        }
        Err(httparse::Error::TooManyHeaders) => Some(Err(refuse(431, format!("more than {MAX_HEADERS} header lines")))),
        Err(e) => Some(Err(refuse(400, format!("malformed request: {e}")))),
    }
}

/// A parsed request line's method and target -> what to serve.
pub fn route(method: &str, target: &str) -> Result<Target, Refusal> {
    let method = match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        _ => return Err(refuse(405, "only GET and HEAD are served")),
    };
    Ok(Target { method, path: resolve(target)? })
}

/// A request target (`/a/b.js?x`) -> a safe path relative to the served directory.
pub fn resolve(target: &str) -> Result<PathBuf, Refusal> {
    let path = target.split(['?', '#']).next().unwrap_or_default();
    if !path.starts_with('/') {
        return Err(refuse(400, "the request target must be a path starting with /"));
    }
    let bytes = percent_decode(path.as_bytes()).ok_or_else(|| refuse(400, "a % in the path is not followed by two hex digits"))?;
    let decoded = String::from_utf8(bytes).map_err(|e| refuse(400, format!("the decoded path is not UTF-8 (at byte {})", e.utf8_error().valid_up_to())))?;
    let mut rel = PathBuf::new();
    for seg in decoded.split('/') {
        match seg {
            "" | "." => continue,
            ".." => return Err(refuse(400, "the path may not contain ..")),
            _ if seg.contains(['\0', '\\']) => return Err(refuse(400, "the path may not contain NUL or \\")),
            _ => {}
        }
        // One normal component and nothing else (on Windows, `C:` would be a prefix).
        let mut c = Path::new(seg).components();
        match (c.next(), c.next()) {
            (Some(Component::Normal(n)), None) if n == seg => rel.push(n),
            _ => return Err(refuse(400, "the path has a component that is not a plain name")),
        }
    }
    Ok(rel)
}

/// `%XY` -> the byte 0xXY; `None` if a `%` is not followed by two hex digits.
pub fn percent_decode(s: &[u8]) -> Option<Vec<u8>> {
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' {
            let hi = hex(*s.get(i + 1)?)?;
            let lo = hex(*s.get(i + 2)?)?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    Some(out)
}

pub fn mime(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "webmanifest" => "application/json",
        "wasm" => "application/wasm",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" | "md" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The headers every answer carries. The widget may be embedded from any origin: its files
/// (worker, wasm, model) are public. `isolation`: cross-origin isolation (COOP + COEP).
pub fn headers(isolation: bool) -> Vec<(&'static str, &'static str)> {
    let mut h = vec![
        ("Content-Security-Policy", CSP),
        ("X-Content-Type-Options", "nosniff"),
        ("Cross-Origin-Resource-Policy", "cross-origin"),
        ("Access-Control-Allow-Origin", "*"),
        ("Cache-Control", "no-cache"),
    ];
    if isolation {
        h.push(("Cross-Origin-Opener-Policy", "same-origin"));
        h.push(("Cross-Origin-Embedder-Policy", "require-corp"));
    }
    h
}

pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// The status line and headers of an answer.
pub fn response_head(status: u16, content_type: &str, content_length: u64, isolation: bool) -> String {
    let mut s = format!("HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {content_length}\r\n", reason(status));
    for (k, v) in headers(isolation) {
        s.push_str(&format!("{k}: {v}\r\n"));
    }
    if status == 405 {
        s.push_str("Allow: GET, HEAD\r\n");
    }
    s.push_str("Connection: close\r\n\r\n");
    s
}

// ------------------------------------------------------------------------------------------------
// The server: a thread per connection, one request each
// ------------------------------------------------------------------------------------------------

/// Serves `root` on `listener` until the process ends.
pub fn run(listener: TcpListener, root: PathBuf, isolation: bool) {
    let root = Arc::new(root);
    let active = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            active.fetch_sub(1, Ordering::SeqCst);
            let body = format!("more than {MAX_CONNECTIONS} connections at once\n");
            let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
            let _ = stream.write_all(response_head(503, "text/plain; charset=utf-8", body.len() as u64, isolation).as_bytes());
            let _ = stream.write_all(body.as_bytes());
            continue;
        }
        let (root, done) = (root.clone(), active.clone());
        let spawned = std::thread::Builder::new().name("serve".into()).spawn(move || {
            let _ = handle(stream, &root, isolation);
            done.fetch_sub(1, Ordering::SeqCst);
        });
        if spawned.is_err() {
            active.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

fn handle(mut stream: TcpStream, root: &Path, isolation: bool) -> std::io::Result<()> {
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    let parsed = loop {
        if let Some(p) = parse_head(&buf) {
            break p;
        }
        let want = chunk.len().min(MAX_HEAD - buf.len());
        match stream.read(&mut chunk[..want]) {
            Ok(0) if buf.is_empty() => return Ok(()), // connected and went away
            Ok(0) => break Err(refuse(400, "the connection ended before the request head did")),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) && !buf.is_empty() => {
                break Err(refuse(408, format!("no complete request head within {} s", READ_TIMEOUT.as_secs())))
            }
            Err(e) => return Err(e),
        }
    };
    let target = match parsed {
        Ok(t) => t,
        Err(r) => return refuse_on(&mut stream, &r, isolation),
    };
    let mut full = root.join(&target.path);
    if full.is_dir() {
        full.push("index.html");
    }
    // Only regular files (opening a FIFO would wait for a writer).
    let file = std::fs::metadata(&full).ok().filter(|m| m.is_file()).and_then(|m| Some((m, std::fs::File::open(&full).ok()?)));
    let (meta, mut file) = match file {
        Some(f) => f,
        None => {
            let body = format!("not found: /{}", target.path.display());
            let head = response_head(404, "text/plain; charset=utf-8", body.len() as u64, isolation);
            stream.write_all(head.as_bytes())?;
            if target.method == Method::Get {
                stream.write_all(body.as_bytes())?;
            }
            return Ok(());
        }
    };
    stream.write_all(response_head(200, mime(&full), meta.len(), isolation).as_bytes())?;
    if target.method == Method::Get {
        std::io::copy(&mut file, &mut stream)?;
    }
    Ok(())
}

/// Sends a refusal, then reads (and drops) what the client still sends for a moment: closing a
/// socket with unread bytes resets it, and the client may lose the answer.
fn refuse_on(stream: &mut TcpStream, r: &Refusal, isolation: bool) -> std::io::Result<()> {
    let body = format!("{}\n", r.message);
    stream.write_all(response_head(r.status, "text/plain; charset=utf-8", body.len() as u64, isolation).as_bytes())?;
    stream.write_all(body.as_bytes())?;
    stream.flush()?;
    stream.shutdown(Shutdown::Write)?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut sink = [0u8; 4096];
    let mut left = 1 << 20;
    while left > 0 {
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => left -= n.min(left),
        }
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------------
// Tests of the pure part (the socket is tested in tests/serve.rs)
// ------------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    fn status(head: &[u8]) -> u16 {
        match parse_head(head) {
            Some(Ok(_)) => 200,
            Some(Err(r)) => r.status,
            None => 0,
        }
    }

    #[test]
    fn targets() {
        assert_eq!(resolve("/").unwrap(), PathBuf::new());
        assert_eq!(resolve("/a/./b//c.js?x=/../#y").unwrap(), PathBuf::from("a/b/c.js"));
        assert_eq!(resolve("/%C3%A9.txt").unwrap(), PathBuf::from("é.txt"));
        for bad in ["/..", "/a/../..", "/%2e%2e/x", "/a%2f..%2f..%2fx", "x", "http://h/", "/%", "/%4", "/%zz", "/%e2%82", "/a%00", "/a\\b"] {
            assert_eq!(resolve(bad).map_err(|r| r.status), Err(400), "{bad}");
        }
    }

    #[test]
    fn heads() {
        assert_eq!(status(b"GET / HTTP/1.1\r\n\r\n"), 200);
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: x\r\n"), 0);
        assert_eq!(status(b"POST / HTTP/1.1\r\n\r\n"), 405);
        assert_eq!(status(b"GET /%\xc3\xa9 HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status(b"GET /\xff HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status(&[b'a'; MAX_HEAD]), 414);
        let mut h = b"GET / HTTP/1.1\r\n".to_vec();
        h.resize(MAX_HEAD, b'a');
        assert_eq!(status(&h), 431);
        assert!(response_head(405, "text/plain", 0, false).contains("Allow: GET, HEAD\r\n"));
        assert!(!response_head(200, "text/plain", 0, false).contains("Cross-Origin-Opener-Policy"));
    }
}
