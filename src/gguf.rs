//! Reading a GGUF file: header, metadata, tensor index. Bounds-checked.
//!
//! A model file is untrusted input. Every count, length, dimension and offset is checked
//! against the bytes that are actually there before anything is allocated for it, and every
//! error names the field and the numbers. The reader borrows the file; tensor data is never
//! copied (the model reads its weights in place from the same buffer).
//!
//! Format: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md

use std::collections::HashMap;
use std::fmt;

use crate::Error;

const MAGIC: &[u8; 4] = b"GGUF";
const DEFAULT_ALIGNMENT: u64 = 32;
/// Longest key or string value we accept (a chat template is a few KB; a vocabulary entry a few bytes).
const MAX_STRING: u64 = 1 << 24;
const MAX_DIMS: u32 = 4;
/// Longest metadata array, and all array elements of a file together. A vocabulary is at most a
/// few hundred thousand tokens (and as many merges); each element costs 32 bytes of memory,
/// however few it takes in the file, so a file of one-byte elements must not be believed.
const MAX_ARRAY: u64 = 1 << 22;
const MAX_ARRAY_TOTAL: u64 = 1 << 23;

// ------------------------------------------------------------------------------------------------
// Types
// ------------------------------------------------------------------------------------------------

/// The ggml tensor types this engine knows by name. Only some can be computed with (see model.rs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GgmlType {
    F32,
    F16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q8_1,
    Q2K,
    Q3K,
    Q4K,
    Q5K,
    Q6K,
    Q8K,
    BF16,
    // Types the reader knows (so that a file holding them is read and its tensors are named)
    // but the kernels do not compute with.
    IQ2XXS,
    IQ2XS,
    IQ3XXS,
    IQ1S,
    IQ4NL,
    IQ3S,
    IQ2S,
    IQ4XS,
    I8,
    I16,
    I32,
    I64,
    F64,
    IQ1M,
    TQ1_0,
    TQ2_0,
    MXFP4,
}

impl GgmlType {
    pub fn from_u32(v: u32) -> Option<Self> {
        use GgmlType::*;
        Some(match v {
            0 => F32,
            1 => F16,
            2 => Q4_0,
            3 => Q4_1,
            6 => Q5_0,
            7 => Q5_1,
            8 => Q8_0,
            9 => Q8_1,
            10 => Q2K,
            11 => Q3K,
            12 => Q4K,
            13 => Q5K,
            14 => Q6K,
            15 => Q8K,
            16 => IQ2XXS,
            17 => IQ2XS,
            18 => IQ3XXS,
            19 => IQ1S,
            20 => IQ4NL,
            21 => IQ3S,
            22 => IQ2S,
            23 => IQ4XS,
            24 => I8,
            25 => I16,
            26 => I32,
            27 => I64,
            28 => F64,
            29 => IQ1M,
            30 => BF16,
            34 => TQ1_0,
            35 => TQ2_0,
            39 => MXFP4,
            _ => return None,
        })
    }

    /// (elements per block, bytes per block)
    pub fn block(self) -> (u64, u64) {
        use GgmlType::*;
        match self {
            F32 => (1, 4),
            F16 | BF16 => (1, 2),
            Q4_0 => (32, 18),
            Q4_1 => (32, 20),
            Q5_0 => (32, 22),
            Q5_1 => (32, 24),
            Q8_0 => (32, 34),
            Q8_1 => (32, 36),
            Q2K => (256, 84),
            Q3K => (256, 110),
            Q4K => (256, 144),
            Q5K => (256, 176),
            Q6K => (256, 210),
            Q8K => (256, 292),
            IQ2XXS => (256, 66),
            IQ2XS => (256, 74),
            IQ3XXS => (256, 98),
            IQ1S => (256, 50),
            IQ4NL => (32, 18),
            IQ3S => (256, 110),
            IQ2S => (256, 82),
            IQ4XS => (256, 136),
            I8 => (1, 1),
            I16 => (1, 2),
            I32 => (1, 4),
            I64 | F64 => (1, 8),
            IQ1M => (256, 56),
            TQ1_0 => (256, 54),
            TQ2_0 => (256, 66),
            MXFP4 => (32, 17),
        }
    }

    pub fn name(self) -> &'static str {
        use GgmlType::*;
        match self {
            F32 => "F32",
            F16 => "F16",
            BF16 => "BF16",
            Q4_0 => "Q4_0",
            Q4_1 => "Q4_1",
            Q5_0 => "Q5_0",
            Q5_1 => "Q5_1",
            Q8_0 => "Q8_0",
            Q8_1 => "Q8_1",
            Q2K => "Q2_K",
            Q3K => "Q3_K",
            Q4K => "Q4_K",
            Q5K => "Q5_K",
            Q6K => "Q6_K",
            Q8K => "Q8_K",
            IQ2XXS => "IQ2_XXS",
            IQ2XS => "IQ2_XS",
            IQ3XXS => "IQ3_XXS",
            IQ1S => "IQ1_S",
            IQ4NL => "IQ4_NL",
            IQ3S => "IQ3_S",
            IQ2S => "IQ2_S",
            IQ4XS => "IQ4_XS",
            I8 => "I8",
            I16 => "I16",
            I32 => "I32",
            I64 => "I64",
            F64 => "F64",
            IQ1M => "IQ1_M",
            TQ1_0 => "TQ1_0",
            TQ2_0 => "TQ2_0",
            MXFP4 => "MXFP4",
        }
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A metadata value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    String(String),
    Array(Vec<Value>),
}

impl Value {
    pub fn type_name(&self) -> String {
        match self {
            Value::U8(_) => "u8".into(),
            Value::I8(_) => "i8".into(),
            Value::U16(_) => "u16".into(),
            Value::I16(_) => "i16".into(),
            Value::U32(_) => "u32".into(),
            Value::I32(_) => "i32".into(),
            Value::U64(_) => "u64".into(),
            Value::I64(_) => "i64".into(),
            Value::F32(_) => "f32".into(),
            Value::F64(_) => "f64".into(),
            Value::Bool(_) => "bool".into(),
            Value::String(_) => "string".into(),
            Value::Array(v) => match v.first() {
                Some(x) => format!("array[{}]", x.type_name()),
                None => "array".into(),
            },
        }
    }

    /// Any integer type as u64 (negative values are refused).
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v as u64),
            Value::U16(v) => Some(v as u64),
            Value::U32(v) => Some(v as u64),
            Value::U64(v) => Some(v),
            Value::I8(v) if v >= 0 => Some(v as u64),
            Value::I16(v) if v >= 0 => Some(v as u64),
            Value::I32(v) if v >= 0 => Some(v as u64),
            Value::I64(v) if v >= 0 => Some(v as u64),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v as f64),
            Value::F64(v) => Some(v),
            _ => self.as_u64().map(|v| v as f64),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(v) => Some(v),
            _ => None,
        }
    }

    /// A JSON rendering for display; arrays longer than `max_items` are cut to their first items.
    pub fn to_json_summary(&self, max_items: usize) -> serde_json::Value {
        use serde_json::json;
        match self {
            Value::U8(v) => json!(v),
            Value::I8(v) => json!(v),
            Value::U16(v) => json!(v),
            Value::I16(v) => json!(v),
            Value::U32(v) => json!(v),
            Value::I32(v) => json!(v),
            Value::U64(v) => json!(v),
            Value::I64(v) => json!(v),
            Value::F32(v) => json!(v),
            Value::F64(v) => json!(v),
            Value::Bool(v) => json!(v),
            Value::String(s) => json!(s),
            Value::Array(a) => {
                serde_json::Value::Array(a.iter().take(max_items).map(|v| v.to_json_summary(max_items)).collect())
            }
        }
    }
}

/// One entry of the tensor index.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    /// GGUF order: `dims[0]` is the contiguous dimension (columns of a weight matrix).
    pub dims: Vec<u64>,
    pub ggml_type: GgmlType,
    /// Offset from the start of the file (not of the data section).
    pub offset: u64,
    pub n_elements: u64,
    pub n_bytes: u64,
}

/// A parsed GGUF header: metadata and tensor index. The tensor bytes stay in the caller's buffer.
#[derive(Clone, Debug)]
pub struct Gguf {
    pub version: u32,
    pub metadata: Vec<(String, Value)>,
    pub tensors: Vec<TensorInfo>,
    pub alignment: u64,
    /// Offset of the tensor data section from the start of the file.
    pub data_offset: u64,
    pub file_len: u64,
    index: HashMap<String, usize>,
}

// ------------------------------------------------------------------------------------------------
// Reading
// ------------------------------------------------------------------------------------------------

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Array elements still allowed (MAX_ARRAY_TOTAL at the start).
    elements_left: u64,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> u64 {
        (self.buf.len() - self.pos) as u64
    }

    fn take(&mut self, n: u64, what: &dyn Fn() -> String) -> Result<&'a [u8], Error> {
        if n > self.remaining() {
            return Err(Error::Format(format!(
                "{} needs {} bytes at offset {}; the file has {} bytes",
                what(),
                n,
                self.pos,
                self.buf.len()
            )));
        }
        let s = &self.buf[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }

    fn u8(&mut self, what: &dyn Fn() -> String) -> Result<u8, Error> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &dyn Fn() -> String) -> Result<u16, Error> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self, what: &dyn Fn() -> String) -> Result<u32, Error> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self, what: &dyn Fn() -> String) -> Result<u64, Error> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn string(&mut self, what: &dyn Fn() -> String) -> Result<String, Error> {
        let len = self.u64(what)?;
        if len > MAX_STRING {
            return Err(Error::Format(format!("{} has length {len}; at most {MAX_STRING} is accepted", what())));
        }
        let bytes = self.take(len, what)?;
        // Vocabulary entries of byte-level models are valid UTF-8; anything else is replaced.
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }

    fn value(&mut self, ty: u32, key: &str, depth: u32) -> Result<Value, Error> {
        let what = || format!("metadata value {key}");
        Ok(match ty {
            0 => Value::U8(self.u8(&what)?),
            1 => Value::I8(self.u8(&what)? as i8),
            2 => Value::U16(self.u16(&what)?),
            3 => Value::I16(self.u16(&what)? as i16),
            4 => Value::U32(self.u32(&what)?),
            5 => Value::I32(self.u32(&what)? as i32),
            6 => Value::F32(f32::from_bits(self.u32(&what)?)),
            7 => match self.u8(&what)? {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => return Err(Error::Format(format!("metadata value {key}: bool byte is {b}, not 0 or 1"))),
            },
            8 => Value::String(self.string(&what)?),
            9 => {
                if depth > 0 {
                    return Err(Error::Format(format!("metadata value {key}: nested arrays are not supported")));
                }
                let elem_ty = self.u32(&what)?;
                let count = self.u64(&what)?;
                let min_size = match elem_ty {
                    0 | 1 | 7 => 1,
                    2 | 3 => 2,
                    4..=6 => 4,
                    8 | 10..=12 => 8,
                    9 => return Err(Error::Format(format!("metadata value {key}: nested arrays are not supported"))),
                    t => return Err(Error::Format(format!("metadata value {key}: unknown array element type {t}"))),
                };
                if count > MAX_ARRAY || count > self.elements_left {
                    return Err(Error::Limit(format!(
                        "metadata array {key} has {count} elements; at most {MAX_ARRAY} per array and {MAX_ARRAY_TOTAL} in all are accepted"
                    )));
                }
                self.elements_left -= count;
                // Every element takes at least `min_size` bytes: refuse counts the file cannot hold
                // before reserving memory for them.
                if count.checked_mul(min_size).is_none_or(|n| n > self.remaining()) {
                    return Err(Error::Format(format!(
                        "metadata array {key} claims {count} elements of at least {min_size} bytes at offset {}; the file has {} bytes",
                        self.pos,
                        self.buf.len()
                    )));
                }
                let mut v = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    v.push(self.value(elem_ty, key, depth + 1)?);
                }
                Value::Array(v)
            }
            10 => Value::U64(self.u64(&what)?),
            11 => Value::I64(self.u64(&what)? as i64),
            12 => Value::F64(f64::from_bits(self.u64(&what)?)),
            t => return Err(Error::Format(format!("metadata value {key} has unknown type {t}"))),
        })
    }
}

impl Gguf {
    /// Parse the header of a GGUF file held in `buf`, checking every tensor lies inside it.
    pub fn read(buf: &[u8]) -> Result<Gguf, Error> {
        let mut r = Reader { buf, pos: 0, elements_left: MAX_ARRAY_TOTAL };
        let file_len = buf.len() as u64;
        if buf.len() < 4 || &buf[..4] != MAGIC {
            let head: Vec<String> = buf.iter().take(4).map(|b| format!("{b:02x}")).collect();
            return Err(Error::Format(format!(
                "not a GGUF file: it starts with bytes [{}], a GGUF file starts with \"GGUF\" (47 47 55 46)",
                head.join(" ")
            )));
        }
        r.pos = 4;
        let version = r.u32(&|| "the GGUF version".into())?;
        if version != 2 && version != 3 {
            return Err(Error::Unsupported(format!("GGUF version {version}; versions 2 and 3 are supported")));
        }
        let n_tensors = r.u64(&|| "the tensor count".into())?;
        let n_kv = r.u64(&|| "the metadata count".into())?;
        // A key-value pair takes at least 8 (key length) + 4 (type) + 1 bytes; a tensor info at
        // least 8 + 4 + 8 + 4 + 8. Refuse counts the file cannot hold.
        if n_kv.checked_mul(13).is_none_or(|n| n > r.remaining()) {
            return Err(Error::Format(format!(
                "the header claims {n_kv} metadata entries (at least 13 bytes each); the file has {file_len} bytes, {} after the header",
                r.remaining()
            )));
        }
        if n_tensors.checked_mul(32).is_none_or(|n| n > r.remaining()) {
            return Err(Error::Format(format!(
                "the header claims {n_tensors} tensors (at least 32 bytes each); the file has {file_len} bytes, {} after the header",
                r.remaining()
            )));
        }

        let mut metadata = Vec::with_capacity(n_kv as usize);
        let mut seen_keys = std::collections::HashSet::new();
        for i in 0..n_kv {
            let key = r.string(&|| format!("metadata key #{i}"))?;
            let ty = r.u32(&|| format!("the type of metadata {key}"))?;
            let value = r.value(ty, &key, 0)?;
            if !seen_keys.insert(key.clone()) {
                return Err(Error::Format(format!("metadata key {key} appears twice")));
            }
            metadata.push((key, value));
        }

        let alignment = match metadata.iter().find(|(k, _)| k == "general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some((_, v)) => match v.as_u64() {
                // The spec asks for a multiple of 8; tensor data is read in place as f32 and f16.
                Some(a) if (8..=1 << 16).contains(&a) && a.is_power_of_two() => a,
                _ => {
                    return Err(Error::Format(format!(
                        "general.alignment is {}; it must be a power of two, a multiple of 8 and at most 65536",
                        v.to_json_summary(4)
                    )))
                }
            },
        };

        let mut raw = Vec::with_capacity(n_tensors as usize);
        for i in 0..n_tensors {
            let name = r.string(&|| format!("the name of tensor #{i}"))?;
            let what = || format!("tensor {name}");
            let n_dims = r.u32(&what)?;
            if n_dims == 0 || n_dims > MAX_DIMS {
                return Err(Error::Format(format!("tensor {name} has {n_dims} dimensions; 1 to {MAX_DIMS} are supported")));
            }
            let mut dims = Vec::with_capacity(n_dims as usize);
            for _ in 0..n_dims {
                dims.push(r.u64(&what)?);
            }
            let ty_raw = r.u32(&what)?;
            let ggml_type = GgmlType::from_u32(ty_raw)
                .ok_or_else(|| Error::Unsupported(format!("tensor {name} has unknown ggml type {ty_raw}")))?;
            let rel_offset = r.u64(&what)?;
            raw.push((name, dims, ggml_type, rel_offset));
        }

        let data_offset = align_up(r.pos as u64, alignment);
        if data_offset > file_len {
            return Err(Error::Format(format!(
                "the tensor data section starts at offset {data_offset}; the file has {file_len} bytes"
            )));
        }

        let mut tensors = Vec::with_capacity(raw.len());
        let mut index = HashMap::with_capacity(raw.len());
        for (name, dims, ggml_type, rel_offset) in raw {
            let n_elements = dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d)).ok_or_else(|| {
                Error::Format(format!("tensor {name} has dimensions {dims:?} whose product overflows"))
            })?;
            if n_elements == 0 {
                return Err(Error::Format(format!("tensor {name} has a zero dimension: {dims:?}")));
            }
            let (block_elems, block_bytes) = ggml_type.block();
            if dims[0] % block_elems != 0 {
                return Err(Error::Format(format!(
                    "tensor {name} ({ggml_type}) has {} columns, not a multiple of the block size {block_elems}",
                    dims[0]
                )));
            }
            let n_bytes = (n_elements / block_elems).checked_mul(block_bytes).ok_or_else(|| {
                Error::Format(format!("tensor {name} has dimensions {dims:?} whose size overflows"))
            })?;
            if rel_offset % alignment != 0 {
                return Err(Error::Format(format!(
                    "tensor {name} starts at data offset {rel_offset}, not a multiple of the alignment {alignment}"
                )));
            }
            let offset = data_offset.saturating_add(rel_offset);
            if offset.checked_add(n_bytes).is_none_or(|end| end > file_len) {
                return Err(Error::Format(format!(
                    "tensor {name} needs {n_bytes} bytes at offset {offset}; the file has {file_len} bytes"
                )));
            }
            if index.insert(name.clone(), tensors.len()).is_some() {
                return Err(Error::Format(format!("tensor {name} appears twice in the tensor index")));
            }
            tensors.push(TensorInfo { name, dims, ggml_type, offset, n_elements, n_bytes });
        }
        // Each tensor's bytes are its own: a shape or type that claims more bytes than the file
        // gave the tensor (a forged type, a lying dimension) runs into the next tensor's data.
        let mut by_offset: Vec<&TensorInfo> = tensors.iter().collect();
        by_offset.sort_by_key(|t| t.offset);
        for w in by_offset.windows(2) {
            let (a, b) = (w[0], w[1]);
            if a.offset + a.n_bytes > b.offset {
                return Err(Error::Format(format!(
                    "tensor {} ({}, {:?}) needs {} bytes at offset {}, which runs into tensor {} at offset {}",
                    a.name, a.ggml_type, a.dims, a.n_bytes, a.offset, b.name, b.offset
                )));
            }
        }

        Ok(Gguf { version, metadata, tensors, alignment, data_offset, file_len, index })
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.index.get(name).map(|&i| &self.tensors[i])
    }

    pub fn get_str(&self, key: &str) -> Result<&str, Error> {
        self.get(key)
            .ok_or_else(|| Error::Missing(format!("metadata {key}")))?
            .as_str()
            .ok_or_else(|| Error::Format(format!("metadata {key} is not a string")))
    }

    pub fn get_u64(&self, key: &str) -> Result<u64, Error> {
        self.get(key)
            .ok_or_else(|| Error::Missing(format!("metadata {key}")))?
            .as_u64()
            .ok_or_else(|| Error::Format(format!("metadata {key} is not a non-negative integer")))
    }

    pub fn get_f64(&self, key: &str) -> Result<f64, Error> {
        self.get(key)
            .ok_or_else(|| Error::Missing(format!("metadata {key}")))?
            .as_f64()
            .ok_or_else(|| Error::Format(format!("metadata {key} is not a number")))
    }
}

fn align_up(x: u64, a: u64) -> u64 {
    x.div_ceil(a).saturating_mul(a)
}

// ------------------------------------------------------------------------------------------------
// Writing (tests and the crafted-file helper build GGUF files with this)
// ------------------------------------------------------------------------------------------------

/// Serialises a GGUF v3 file. Tensor data is given as raw bytes of the stated type.
pub fn write(metadata: &[(String, Value)], tensors: &[(String, Vec<u64>, GgmlType, Vec<u8>)]) -> Vec<u8> {
    fn put_str(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u64).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    fn type_id(v: &Value) -> u32 {
        match v {
            Value::U8(_) => 0,
            Value::I8(_) => 1,
            Value::U16(_) => 2,
            Value::I16(_) => 3,
            Value::U32(_) => 4,
            Value::I32(_) => 5,
            Value::F32(_) => 6,
            Value::Bool(_) => 7,
            Value::String(_) => 8,
            Value::Array(_) => 9,
            Value::U64(_) => 10,
            Value::I64(_) => 11,
            Value::F64(_) => 12,
        }
    }
    fn put_val(out: &mut Vec<u8>, v: &Value) {
        match v {
            Value::U8(x) => out.push(*x),
            Value::I8(x) => out.push(*x as u8),
            Value::U16(x) => out.extend_from_slice(&x.to_le_bytes()),
            Value::I16(x) => out.extend_from_slice(&x.to_le_bytes()),
            Value::U32(x) => out.extend_from_slice(&x.to_le_bytes()),
            Value::I32(x) => out.extend_from_slice(&x.to_le_bytes()),
            Value::U64(x) => out.extend_from_slice(&x.to_le_bytes()),
            Value::I64(x) => out.extend_from_slice(&x.to_le_bytes()),
            Value::F32(x) => out.extend_from_slice(&x.to_le_bytes()),
            Value::F64(x) => out.extend_from_slice(&x.to_le_bytes()),
            Value::Bool(x) => out.push(*x as u8),
            Value::String(s) => put_str(out, s),
            Value::Array(a) => {
                out.extend_from_slice(&a.first().map_or(4, type_id).to_le_bytes());
                out.extend_from_slice(&(a.len() as u64).to_le_bytes());
                for x in a {
                    put_val(out, x);
                }
            }
        }
    }
    let type_code = |t: GgmlType| -> u32 {
        (0..64).find(|&c| GgmlType::from_u32(c) == Some(t)).unwrap_or(0)
    };
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&3u32.to_le_bytes());
    out.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
    out.extend_from_slice(&(metadata.len() as u64).to_le_bytes());
    for (k, v) in metadata {
        put_str(&mut out, k);
        out.extend_from_slice(&type_id(v).to_le_bytes());
        put_val(&mut out, v);
    }
    let mut rel = 0u64;
    let mut offsets = Vec::new();
    for (name, dims, ty, data) in tensors {
        put_str(&mut out, name);
        out.extend_from_slice(&(dims.len() as u32).to_le_bytes());
        for d in dims {
            out.extend_from_slice(&d.to_le_bytes());
        }
        out.extend_from_slice(&type_code(*ty).to_le_bytes());
        out.extend_from_slice(&rel.to_le_bytes());
        offsets.push(rel);
        rel = align_up(rel + data.len() as u64, DEFAULT_ALIGNMENT);
    }
    let start = align_up(out.len() as u64, DEFAULT_ALIGNMENT) as usize;
    out.resize(start, 0);
    for ((_, _, _, data), off) in tensors.iter().zip(offsets) {
        out.resize(start + off as usize, 0);
        out.extend_from_slice(data);
    }
    out
}
