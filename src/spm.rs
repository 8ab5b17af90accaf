//! SentencePiece tokenization as llama.cpp does it (`tokenizer.ggml.model` = "llama": Gemma,
//! Llama 2, Mistral): no merges in the file, only pieces with scores. Derived from llama.cpp's
//! `llm_tokenizer_spm_session` and `tokenizer_st_partition` (src/llama-vocab.cpp):
//!
//! 1. special and user-defined tokens are cut out of the text first, longest token first, each
//!    claiming its leftmost non-overlapping occurrences in what is still plain text;
//! 2. each remaining piece of text has its spaces written as `▁` (and, with `add_space_prefix`,
//!    a `▁` put before it when it starts the text or follows a special token);
//! 3. it is split into UTF-8 characters, and the adjacent pair whose concatenation is the
//!    best-scoring piece is merged, again and again (left-most pair on equal scores), until no
//!    adjacent pair forms a piece;
//! 4. every symbol left is its piece's id, or else one `<0xXX>` byte token per byte.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::Error;

pub struct Spm {
    /// Piece → id; for a piece that appears twice, the last id (as llama.cpp's token_to_id).
    ids: PieceTable,
    scores: Vec<f32>,
    /// The `<0xXX>` token of each byte (or the byte itself as a piece).
    byte_ids: [Option<u32>; 256],
    /// Special (control, unknown) and user-defined tokens, longest text first; `true` for those
    /// cut out even when special tokens are not parsed (user-defined ones).
    specials: Vec<(u32, Box<str>, bool)>,
    add_space_prefix: bool,
}

/// One part of the text after the special tokens are cut out.
#[derive(Clone, Copy)]
enum Fragment {
    Text(usize, usize),
    Token(u32),
}

impl Spm {
    /// `pieces[i]`, `scores[i]`, and which tokens are cut out before tokenizing: `cut[i]` is
    /// None for a normal token, Some(always) for special (`always` false: only when special
    /// tokens are parsed) and user-defined (`always` true) ones.
    pub fn new(pieces: &[&str], scores: Vec<f32>, cut: &[Option<bool>], add_space_prefix: bool) -> Result<Spm, Error> {
        if scores.len() != pieces.len() || cut.len() != pieces.len() {
            return Err(Error::Format(format!(
                "{} tokens, {} scores and {} token types: they must be as many",
                pieces.len(),
                scores.len(),
                cut.len()
            )));
        }
        let ids = PieceTable::new(pieces);
        let mut byte_ids = [None; 256];
        for (b, slot) in byte_ids.iter_mut().enumerate() {
            let hex = format!("<0x{b:02X}>");
            *slot = ids.get(hex.as_str()).or_else(|| {
                let c = [b as u8];
                std::str::from_utf8(&c).ok().and_then(|s| ids.get(s))
            });
        }
        let mut specials: Vec<(u32, Box<str>, bool)> = cut
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.map(|always| (i as u32, Box::from(pieces[i]), always)))
            .filter(|(_, t, _): &(u32, Box<str>, bool)| !t.is_empty())
            .collect();
        // Longest first; equal lengths by id (llama.cpp's std::sort leaves their order open).
        specials.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
        Ok(Spm { ids, scores, byte_ids, specials, add_space_prefix })
    }

    /// The ids of `text`; with `parse_special`, control tokens written in the text become their
    /// ids (user-defined tokens always do). No BOS: the caller decides that.
    pub fn encode(&self, text: &str, parse_special: bool) -> Result<Vec<u32>, Error> {
        let mut out = Vec::with_capacity(text.len() / 3 + 1);
        let mut prev_special = true;
        for f in self.partition(text, parse_special) {
            match f {
                Fragment::Token(id) => {
                    out.push(id);
                    prev_special = true;
                }
                Fragment::Text(a, b) => {
                    let mut s = String::with_capacity(b - a + 3);
                    if self.add_space_prefix && prev_special {
                        s.push('▁');
                    }
                    for c in text[a..b].chars() {
                        if c == ' ' {
                            s.push('▁');
                        } else {
                            s.push(c);
                        }
                    }
                    self.tokenize(&s, &mut out)?;
                    prev_special = false;
                }
            }
        }
        Ok(out)
    }

    /// Cuts the special tokens out of `text` (llama.cpp's tokenizer_st_partition).
    fn partition(&self, text: &str, parse_special: bool) -> Vec<Fragment> {
        let mut frags = vec![Fragment::Text(0, text.len())];
        if text.is_empty() {
            return Vec::new();
        }
        // Which byte pairs occur in the text at all: most of the thousands of special tokens
        // cannot occur, and are skipped without a search.
        let bytes = text.as_bytes();
        let mut pairs = vec![0u64; 65536 / 64];
        let mut firsts = [false; 256];
        for (i, &b) in bytes.iter().enumerate() {
            firsts[b as usize] = true;
            if let Some(&n) = bytes.get(i + 1) {
                let k = (b as usize) << 8 | n as usize;
                pairs[k / 64] |= 1 << (k % 64);
            }
        }
        let may_occur = |t: &[u8]| match t {
            [] => false,
            [a] => firsts[*a as usize],
            [a, b, ..] => {
                let k = (*a as usize) << 8 | *b as usize;
                pairs[k / 64] & (1 << (k % 64)) != 0
            }
        };
        for (id, tok, always) in &self.specials {
            if !(parse_special || *always) || tok.len() > text.len() || !may_occur(tok.as_bytes()) {
                continue;
            }
            let mut next = Vec::with_capacity(frags.len() + 2);
            for f in frags {
                let Fragment::Text(mut a, b) = f else {
                    next.push(f);
                    continue;
                };
                while let Some(i) = text[a..b].find(&**tok) {
                    if i > 0 {
                        next.push(Fragment::Text(a, a + i));
                    }
                    next.push(Fragment::Token(*id));
                    a += i + tok.len();
                }
                if a < b {
                    next.push(Fragment::Text(a, b));
                }
            }
            frags = next;
        }
        frags
    }

    /// The merge loop over one piece of text (spaces already `▁`).
    fn tokenize(&self, text: &str, out: &mut Vec<u32>) -> Result<(), Error> {
        // Symbols: byte ranges of the text, in a doubly linked list (prev/next indices).
        let mut syms: Vec<Symbol> = Vec::with_capacity(text.len());
        for (i, c) in text.char_indices() {
            let n = syms.len();
            syms.push(Symbol { start: i, len: c.len_utf8(), prev: n.checked_sub(1), next: Some(n + 1) });
        }
        let Some(last) = syms.last_mut() else { return Ok(()) };
        last.next = None;

        let mut queue = BinaryHeap::with_capacity(syms.len());
        for i in 1..syms.len() {
            self.try_bigram(text, &syms, i - 1, i, &mut queue);
        }
        while let Some(bg) = queue.pop() {
            let (l, r) = (bg.left, bg.right);
            // A pair whose symbols have changed since it was queued is stale.
            if syms[l].len == 0 || syms[r].len == 0 || syms[l].len + syms[r].len != bg.size {
                continue;
            }
            syms[l].len += syms[r].len;
            syms[r].len = 0;
            syms[l].next = syms[r].next;
            if let Some(n) = syms[r].next {
                syms[n].prev = Some(l);
            }
            if let Some(p) = syms[l].prev {
                self.try_bigram(text, &syms, p, l, &mut queue);
            }
            if let Some(n) = syms[l].next {
                self.try_bigram(text, &syms, l, n, &mut queue);
            }
        }

        let mut i = Some(0);
        while let Some(k) = i {
            let s = &syms[k];
            let piece = &text[s.start..s.start + s.len];
            match self.ids.get(piece) {
                Some(id) => out.push(id),
                None => {
                    for &b in piece.as_bytes() {
                        let id = self.byte_ids[b as usize].ok_or_else(|| {
                            Error::Tokenizer(format!(
                                "{piece:?} is no piece of the vocabulary and the vocabulary has no byte token <0x{b:02X}> to spell it"
                            ))
                        })?;
                        out.push(id);
                    }
                }
            }
            i = s.next;
        }
        Ok(())
    }

    fn try_bigram(&self, text: &str, syms: &[Symbol], left: usize, right: usize, queue: &mut BinaryHeap<Bigram>) {
        let size = syms[left].len + syms[right].len;
        let start = syms[left].start;
        if let Some(id) = self.ids.get(&text[start..start + size]) {
            let score = self.scores.get(id as usize).copied().unwrap_or(0.0);
            queue.push(Bigram { left, right, score, size });
        }
    }
}

/// Piece → id without an allocation per piece: all pieces in one string, and an open-addressing
/// table of ids (rustc's FxHash, linear probing, at most half full). Built once per load for
/// 262,144 pieces (Gemma), looked up for every pair of adjacent symbols.
struct PieceTable {
    text: String,
    /// Piece i is text[ends[i - 1]..ends[i]].
    ends: Vec<u32>,
    slots: Vec<u32>,
}

const EMPTY: u32 = u32::MAX;

impl PieceTable {
    fn new(pieces: &[&str]) -> PieceTable {
        let mut text = String::with_capacity(pieces.iter().map(|p| p.len()).sum());
        let mut ends = Vec::with_capacity(pieces.len());
        for p in pieces {
            text.push_str(p);
            ends.push(text.len() as u32);
        }
        let mut t = PieceTable { text, ends, slots: vec![EMPTY; (pieces.len() * 2).next_power_of_two().max(2)] };
        let mask = t.slots.len() - 1;
        for (i, p) in pieces.iter().enumerate() {
            let mut k = fx_hash(p.as_bytes()) as usize & mask;
            loop {
                let slot = t.slots[k];
                // A piece that appears again takes the slot over: the last id wins.
                if slot == EMPTY || t.piece(slot) == *p {
                    t.slots[k] = i as u32;
                    break;
                }
                k = (k + 1) & mask;
            }
        }
        t
    }

    fn piece(&self, id: u32) -> &str {
        let i = id as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }

    fn get(&self, piece: &str) -> Option<u32> {
        let mask = self.slots.len() - 1;
        let mut k = fx_hash(piece.as_bytes()) as usize & mask;
        loop {
            let slot = self.slots[k];
            if slot == EMPTY {
                return None;
            }
            if self.piece(slot) == piece {
                return Some(slot);
            }
            k = (k + 1) & mask;
        }
    }
}

/// rustc's FxHash, 8 bytes at a time, with the length mixed in last.
fn fx_hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = 0u64;
    for chunk in bytes.chunks(8) {
        let mut b = [0u8; 8];
        b[..chunk.len()].copy_from_slice(chunk);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(b)).wrapping_mul(K);
    }
    let h = (h.rotate_left(5) ^ bytes.len() as u64).wrapping_mul(K);
    // The top bits of a product are the best mixed; the table indexes with the low ones.
    h.rotate_left(32) ^ (h >> 17)
}

struct Symbol {
    start: usize,
    /// 0 once merged into the symbol on its left.
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

struct Bigram {
    left: usize,
    right: usize,
    score: f32,
    size: usize,
}

/// The heap pops the best score first, and on equal scores the left-most pair.
impl Ord for Bigram {
    fn cmp(&self, o: &Self) -> Ordering {
        self.score.total_cmp(&o.score).then_with(|| o.left.cmp(&self.left))
    }
}
impl PartialOrd for Bigram {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl PartialEq for Bigram {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Bigram {}

/// The bytes an SPM piece stands for: `▁` is a space, `<0xXX>` (a byte token) its byte.
pub fn push_piece_bytes(piece: &str, is_byte_token: bool, out: &mut Vec<u8>) {
    if is_byte_token {
        if let Some(b) = piece.strip_prefix("<0x").and_then(|h| h.strip_suffix('>')).and_then(|h| u8::from_str_radix(h, 16).ok()) {
            out.push(b);
            return;
        }
    }
    for (i, part) in piece.split('▁').enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(part.as_bytes());
    }
}

#[cfg(test)]
fn piece_bytes(piece: &str, is_byte_token: bool) -> Vec<u8> {
    let mut out = Vec::new();
    push_piece_bytes(piece, is_byte_token, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spm(pieces: &[(&str, f32)], add_space_prefix: bool) -> Spm {
        let p: Vec<&str> = pieces.iter().map(|&(s, _)| s).collect();
        let s = pieces.iter().map(|&(_, x)| x).collect();
        let cut: Vec<Option<bool>> = p.iter().map(|t| (t.starts_with("<c")).then_some(false)).collect();
        Spm::new(&p, s, &cut, add_space_prefix).unwrap()
    }

    #[test]
    fn best_score_first_then_left_most() {
        let mut v = vec![("a", 0.0), ("b", 0.0), ("ab", -1.0), ("bb", -1.0), ("abb", -0.5), ("<ctl>", 0.0), ("▁", 0.0)];
        for b in 0..=255u8 {
            v.push((Box::leak(format!("<0x{b:02X}>").into_boxed_str()), 0.0));
        }
        let t = spm(&v, false);
        // "abb": ab and bb tie at -1; the left-most (ab) merges, then ab+b = abb.
        assert_eq!(t.encode("abb", false).unwrap(), vec![4]);
        // "bbb": bb (left-most) then b.
        assert_eq!(t.encode("bbb", false).unwrap(), vec![3, 1]);
        // Spaces are ▁; unknown characters fall back to bytes; control tokens only when parsed.
        assert_eq!(t.encode("a b", false).unwrap(), vec![0, 6, 1]);
        assert_eq!(t.encode("é", false).unwrap(), vec![7 + 0xc3, 7 + 0xa9]);
        assert_eq!(t.encode("a<ctl>", true).unwrap(), vec![0, 5]);
        assert_ne!(t.encode("a<ctl>", false).unwrap(), vec![0, 5]);
        assert_eq!(t.encode("", true).unwrap(), Vec::<u32>::new());
        let with_prefix = spm(&v, true);
        assert_eq!(with_prefix.encode("a", false).unwrap(), vec![6, 0]);
    }

    #[test]
    fn piece_bytes_of_spaces_and_bytes() {
        assert_eq!(piece_bytes("▁hello▁", false), b" hello ");
        assert_eq!(piece_bytes("<0x0A>", true), b"\n");
        assert_eq!(piece_bytes("<0x0A>", false), b"<0x0A>");
    }
}
