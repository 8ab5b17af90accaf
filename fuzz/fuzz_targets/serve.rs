//! Arbitrary bytes as the head of a request to `plumbing serve` (src/serve.rs): parsing, the
//! path confinement and the MIME table. Any panic is a bug, and so is a path that leaves the
//! served directory, a refusal that is not 4xx, or an answer head that the request can inject
//! a line into.
#![no_main]

use std::path::{Component, Path};

use libfuzzer_sys::fuzz_target;
use plumbing::serve;

fn confined(p: &Path) {
    assert!(p.components().all(|c| matches!(c, Component::Normal(_))), "{p:?}");
    assert!(!p.as_os_str().as_encoded_bytes().contains(&0), "{p:?}");
    assert!(Path::new("/srv/www").join(p).starts_with("/srv/www"), "{p:?}");
}

fuzz_target!(|data: &[u8]| {
    match serve::parse_head(data) {
        None => assert!(data.len() < serve::MAX_HEAD, "an incomplete head of {} bytes", data.len()),
        Some(Ok(t)) => {
            confined(&t.path);
            let head = serve::response_head(200, serve::mime(&t.path), 0, true);
            assert_eq!(head.matches("\r\n").count(), 5 + serve::headers(true).len(), "{head:?}");
        }
        Some(Err(r)) => {
            assert!((400..500).contains(&r.status), "status {} for {:?}", r.status, String::from_utf8_lossy(data));
            assert!(!r.message.contains(['\r', '\n']), "{:?}", r.message);
        }
    }
    let text = String::from_utf8_lossy(data);
    if let Ok(p) = serve::resolve(&text) {
        confined(&p);
    }
    if let Ok(t) = serve::route("GET", &text) {
        confined(&t.path);
    }
    let _ = serve::percent_decode(data);
    let _ = serve::mime(Path::new(&*text));
});
