//! `plumbing serve` under malformed requests: the real binary on a free port, raw bytes over a
//! socket. Every malformed request gets a 4xx status line (an empty connection a clean close),
//! and afterwards the server still serves `GET /index.html` with its headers.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory to serve (`root/www`) with a secret beside it (`root/Cargo.toml`) that no request
/// may reach.
fn site(name: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let www = root.join("www");
    std::fs::create_dir_all(www.join("sub")).unwrap();
    std::fs::write(root.join("Cargo.toml"), "secret = true\n").unwrap();
    std::fs::write(www.join("index.html"), "<!doctype html><p>hello</p>\n").unwrap();
    std::fs::write(www.join("app.js"), "export {};\n").unwrap();
    std::fs::write(www.join("sub/index.html"), "<p>sub</p>\n").unwrap();
    std::fs::write(www.join("é.txt"), "accent\n").unwrap();
    www
}

/// The binary under test: this build's, or PLUMBING_BIN (to show that an old build fails).
fn bin() -> String {
    std::env::var("PLUMBING_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_plumbing").to_string())
}

/// Starts the server on `--port 0` and reads the port it bound from its first line on stderr:
/// the port is the child's own. (Picking a free port here and passing it raced: another test's
/// server could take it first, and the readiness probe then reached that server, or a connect to
/// a port in the ephemeral range could connect to itself.)
fn start(name: &str, extra: &[&str]) -> Server {
    let www = site(name);
    let mut args = vec!["serve".to_string(), "--dir".into(), www.display().to_string(), "--port".into(), "0".into()];
    args.extend(extra.iter().map(|s| s.to_string()));
    let mut child = Command::new(bin()).args(&args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    // Keep draining stderr so that a later line cannot fail on a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    let port = first
        .split("http://127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|p| p.parse::<u16>().ok())
        .filter(|&p| p != 0);
    let mut server = Server { child, port: port.unwrap_or(0) };
    if port.is_none() {
        let _ = server.child.kill();
        panic!("plumbing serve did not start: {first:?}");
    }
    server
}

/// Sends `bytes` (then closes the write side) and returns everything the server answered
/// before closing the connection (empty if it closed without a word).
fn raw(port: u16, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    // The server may answer and close before it has read all of an over-long request.
    let _ = s.write_all(bytes);
    let _ = s.shutdown(Shutdown::Write);
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("reading the answer to {:?}: {e}", String::from_utf8_lossy(&bytes[..bytes.len().min(80)])),
        }
    }
    out
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

fn parse(out: &[u8], what: &str) -> Answer {
    let text = String::from_utf8_lossy(out);
    let end = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or_else(|| panic!("{what}: no complete answer: {text:?}"));
    let head = std::str::from_utf8(&out[..end]).unwrap_or_else(|_| panic!("{what}: the head is not UTF-8: {text:?}"));
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let mut parts = status_line.splitn(3, ' ');
    assert_eq!(parts.next(), Some("HTTP/1.1"), "{what}: {status_line:?}");
    let status: u16 = parts.next().and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("{what}: {status_line:?}"));
    let headers = lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).collect();
    Answer { status, headers, body: out[end + 4..].to_vec() }
}

fn get(port: u16, path: &str) -> Answer {
    parse(&raw(port, format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes()), path)
}

/// What every answer carries, and index.html served whole.
fn assert_serves_index(port: u16, isolation: bool, after: &str) {
    let a = get(port, "/index.html");
    assert_eq!(a.status, 200, "GET /index.html after {after}");
    assert_eq!(a.body, b"<!doctype html><p>hello</p>\n");
    assert_eq!(a.header("content-length"), Some("28"));
    assert_eq!(a.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(a.header("cache-control"), Some("no-cache"));
    assert_eq!(a.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(a.header("cross-origin-resource-policy"), Some("cross-origin"));
    assert_eq!(a.header("access-control-allow-origin"), Some("*"));
    let csp = a.header("content-security-policy").unwrap_or_default();
    assert!(csp.starts_with("default-src 'self'; script-src 'self' 'wasm-unsafe-eval';"), "{csp}");
    assert!(csp.contains("connect-src 'self' blob:"), "{csp}");
    if isolation {
        assert_eq!(a.header("cross-origin-opener-policy"), Some("same-origin"));
        assert_eq!(a.header("cross-origin-embedder-policy"), Some("require-corp"));
    } else {
        assert_eq!(a.header("cross-origin-opener-policy"), None);
        assert_eq!(a.header("cross-origin-embedder-policy"), None);
    }
}

#[test]
fn malformed_requests_get_a_4xx_and_the_server_goes_on() {
    let server = start("serve-malformed", &[]);
    let port = server.port;
    assert_serves_index(port, true, "start");
    let mut long = b"GET /".to_vec();
    long.extend(std::iter::repeat_n(b'a', 100_000));
    long.extend_from_slice(b" HTTP/1.1\r\n\r\n");
    let mut many_headers = b"GET /index.html HTTP/1.1\r\n".to_vec();
    for i in 0..200 {
        many_headers.extend_from_slice(format!("X-{i}: {i}\r\n").as_bytes());
    }
    many_headers.extend_from_slice(b"\r\n");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("a cut UTF-8 sequence, percent-encoded", b"GET /%e2%82 HTTP/1.1\r\n\r\n".to_vec()),
        ("% before a two-byte character", b"GET /%\xc3\xa9 HTTP/1.1\r\n\r\n".to_vec()),
        ("% and a hex digit before a two-byte character", b"GET /%a\xc3\xa9 HTTP/1.1\r\n\r\n".to_vec()),
        ("% before a three-byte character", b"GET /%\xe2\x82\xac HTTP/1.1\r\n\r\n".to_vec()),
        ("% at the end", b"GET /index.html% HTTP/1.1\r\n\r\n".to_vec()),
        ("a request line that is not UTF-8", b"GET /\xff\xfe HTTP/1.1\r\n\r\n".to_vec()),
        ("a method that is not UTF-8", b"G\xc0T / HTTP/1.1\r\n\r\n".to_vec()),
        ("a header that is not UTF-8", b"GET / HTTP/1.1\r\nX-A: \xff\r\nX\xff: 1\r\n\r\n".to_vec()),
        ("an over-long request line", long),
        ("too many headers", many_headers),
        ("garbage (a TLS hello)", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n".to_vec()),
        ("garbage that ends", b"hello".to_vec()),
        ("no version", b"GET /index.html\r\n\r\n".to_vec()),
        ("HTTP/2", b"GET /index.html HTTP/2.0\r\n\r\n".to_vec()),
        ("POST", b"POST /index.html HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello".to_vec()),
        ("a lower-case method", b"get /index.html HTTP/1.1\r\n\r\n".to_vec()),
        ("..", b"GET /../Cargo.toml HTTP/1.1\r\n\r\n".to_vec()),
        ("a percent-encoded ..", b"GET /%2e%2e/Cargo.toml HTTP/1.1\r\n\r\n".to_vec()),
        ("a percent-encoded ../", b"GET /sub%2f..%2f..%2fCargo.toml HTTP/1.1\r\n\r\n".to_vec()),
        ("an absolute form", b"GET http://127.0.0.1/../Cargo.toml HTTP/1.1\r\n\r\n".to_vec()),
        ("no leading slash", b"GET ../Cargo.toml HTTP/1.1\r\n\r\n".to_vec()),
        ("a raw NUL", b"GET /index.html\x00 HTTP/1.1\r\n\r\n".to_vec()),
        ("a percent-encoded NUL", b"GET /index.html%00.js HTTP/1.1\r\n\r\n".to_vec()),
        ("a missing file", b"GET /nothing.html HTTP/1.1\r\n\r\n".to_vec()),
    ];
    for (what, bytes) in &cases {
        let out = raw(port, bytes);
        let a = parse(&out, what);
        assert!((400..500).contains(&a.status), "{what}: status {} ({:?})", a.status, String::from_utf8_lossy(&out));
        assert!(!String::from_utf8_lossy(&a.body).contains("secret"), "{what}: leaked the file outside --dir");
        assert_serves_index(port, true, what);
    }
    // An empty connection, and one that sends half a request and goes away: closed, no crash.
    let out = raw(port, b"");
    assert!(out.is_empty() || parse(&out, "empty").status / 100 == 4, "{:?}", String::from_utf8_lossy(&out));
    let out = raw(port, b"GET /index.html HTTP/1.1\r\nHost: x");
    assert!(out.is_empty() || parse(&out, "half a head").status / 100 == 4, "{:?}", String::from_utf8_lossy(&out));
    assert_serves_index(port, true, "an empty connection");
    assert!(server_alive(&server));
}

fn server_alive(s: &Server) -> bool {
    // try_wait needs &mut; a connection that succeeds is proof enough.
    TcpStream::connect(("127.0.0.1", s.port)).is_ok()
}

#[test]
fn what_is_served_and_how() {
    let server = start("serve-ok", &["--no-isolation"]);
    let port = server.port;
    assert_serves_index(port, false, "start");
    let a = get(port, "/");
    assert_eq!((a.status, a.body.as_slice()), (200, &b"<!doctype html><p>hello</p>\n"[..]), "a directory serves its index.html");
    let a = get(port, "/sub/?q=1#x");
    assert_eq!((a.status, a.body.as_slice()), (200, &b"<p>sub</p>\n"[..]));
    let a = get(port, "/app.js");
    assert_eq!(a.header("content-type"), Some("text/javascript; charset=utf-8"));
    let a = get(port, "/%C3%A9.txt");
    assert_eq!((a.status, a.body.as_slice()), (200, &b"accent\n"[..]), "percent-decoding works on bytes");
    let a = get(port, "/./sub//index.html");
    assert_eq!(a.status, 200);
    // HEAD: the same head, no body.
    let out = raw(port, b"HEAD /index.html HTTP/1.1\r\n\r\n");
    let a = parse(&out, "HEAD");
    assert_eq!((a.status, a.header("content-length")), (200, Some("28")));
    assert!(a.body.is_empty(), "HEAD sends no body: {:?}", String::from_utf8_lossy(&a.body));
    // 405 names what is allowed.
    let a = parse(&raw(port, b"DELETE /index.html HTTP/1.1\r\n\r\n"), "DELETE");
    assert_eq!((a.status, a.header("allow")), (405, Some("GET, HEAD")));
    // A refusal carries the security headers too.
    let a = get(port, "/../Cargo.toml");
    assert_eq!((a.status, a.header("x-content-type-options")), (400, Some("nosniff")));
    // Only regular files: a FIFO is not opened (that would wait for a writer).
    #[cfg(unix)]
    {
        let fifo = site("serve-ok").join("fifo");
        if !fifo.exists() {
            assert!(Command::new("mkfifo").arg(&fifo).status().is_ok_and(|s| s.success()));
        }
        assert_eq!(get(port, "/fifo").status, 404);
    }
    // HTTP/1.0 and bare LF line ends are fine.
    let a = parse(&raw(port, b"GET /index.html HTTP/1.0\n\n"), "HTTP/1.0");
    assert_eq!(a.status, 200);
}
