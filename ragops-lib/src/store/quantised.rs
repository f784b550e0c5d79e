//! 4-bit codes of a segment's vectors, for long-lived readers.
//!
//! An exact scan reads every f32 vector (at 100k chunks of 640 values, 263 MB a query), and a scan
//! over many vectors is bound by memory bandwidth, so its cost is its bytes. A reader that
//! searches more than once (a library user, a chat session) builds, at its second search of a
//! large segment, one 4-bit code per vector (each value scaled by the vector's largest magnitude
//! to −7…7, two values a byte): an eighth of the bytes, dotted with SIMD instructions chosen at
//! run time. The scan ranks candidates by their codes and re-scores the best `3k` with the f32
//! vectors, so the similarities returned are exact and the ranking matches the exact scan's
//! (docs/benchmarks.md: on 100k vectors of the built-in model, re-scoring 400 keeps recall@10 at
//! 1.0; for the 200 candidates a hybrid search asks, re-scoring 400 keeps 99.1 % of the exact top
//! 200, 1000 keeps 99.9 %).

/// Below this many vectors a scan is split no further across threads.
const PARALLEL_MIN: usize = 8192;

/// 4-bit codes (two a byte: even values in the low nibble) and their scales, one per vector.
pub(crate) struct Codes {
    dims: usize,
    codes: Vec<u8>,
    scales: Vec<f32>,
}

impl std::fmt::Debug for Codes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Codes").field("dims", &self.dims).field("vectors", &self.scales.len()).finish()
    }
}

/// Bytes of one vector's code.
fn code_len(dims: usize) -> usize {
    dims.div_ceil(2)
}

/// A vector's code at `levels` (127 for a query's int8 code, 7 for a stored 4-bit one) and the
/// scale that maps it back (`x ≈ code · scale`); zero for a zero or non-finite vector.
fn scaled(v: &[f32], levels: f32) -> (Vec<i8>, f32) {
    let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    if !(max.is_finite() && max > 0.0) || v.iter().any(|x| !x.is_finite()) {
        return (vec![0; v.len()], 0.0);
    }
    let scale = max / levels;
    (v.iter().map(|x| (x / scale).round().clamp(-levels, levels) as i8).collect(), scale)
}

/// A query's int8 code, split into its even and odd values (to meet the two nibbles of a byte).
pub(crate) struct QueryCode {
    even: Vec<i8>,
    odd: Vec<i8>,
}

/// The int8 code of a query vector (its scale does not change the order, so it is dropped).
pub(crate) fn quantise(v: &[f32]) -> QueryCode {
    let (code, _) = scaled(v, 127.0);
    let pairs = code_len(v.len());
    let mut even = vec![0i8; pairs];
    let mut odd = vec![0i8; pairs];
    for (i, c) in code.into_iter().enumerate() {
        if i % 2 == 0 { even[i / 2] = c } else { odd[i / 2] = c }
    }
    QueryCode { even, odd }
}

impl Codes {
    /// Codes of `vectors` (`dims` values each, concatenated).
    pub(crate) fn build(vectors: &[f32], dims: usize) -> Codes {
        let n = vectors.len().checked_div(dims).unwrap_or(0);
        let mut codes = Vec::with_capacity(n * code_len(dims));
        let mut scales = Vec::with_capacity(n);
        for v in vectors.chunks_exact(dims.max(1)) {
            let (c, s) = scaled(v, 7.0);
            for pair in c.chunks(2) {
                let lo = pair[0] as u8 & 0x0f;
                let hi = pair.get(1).map_or(0, |h| *h as u8 & 0x0f);
                codes.push(lo | hi << 4);
            }
            scales.push(s);
        }
        Codes { dims, codes, scales }
    }

    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.codes.len() + self.scales.len() * 4
    }

    /// Approximate similarities of every vector to a query, proportional to the dot product.
    pub(crate) fn scores(&self, query: &QueryCode) -> Vec<f32> {
        let len = code_len(self.dims);
        let mut out = vec![0i32; self.scales.len()];
        if len == 0 || query.even.len() != len {
            return vec![0.0; self.scales.len()];
        }
        split_dots(query, &self.codes, len, &mut out);
        out.iter().zip(&self.scales).map(|(d, s)| *d as f32 * s).collect()
    }
}

/// Dot products, the work split in halves over the rayon pool while large enough.
fn split_dots(query: &QueryCode, codes: &[u8], len: usize, out: &mut [i32]) {
    if out.len() < PARALLEL_MIN {
        dots(&query.even, &query.odd, codes, len, out);
        return;
    }
    let half = out.len() / 2;
    let (a, b) = out.split_at_mut(half);
    let (ca, cb) = codes.split_at(half * len);
    rayon::join(|| split_dots(query, ca, len, a), || split_dots(query, cb, len, b));
}

/// The dot product of a query with each 4-bit code, compiled for several instruction sets and
/// dispatched at run time (the loop is written for the compiler to vectorise).
#[multiversion::multiversion(targets("x86_64+avx512f+avx512bw+avx512vl", "x86_64+avx2+fma", "x86_64+sse4.1"))]
fn dots(even: &[i8], odd: &[i8], codes: &[u8], len: usize, out: &mut [i32]) {
    for (code, o) in codes.chunks_exact(len).zip(out.iter_mut()) {
        let mut acc = 0i32;
        for ((b, e), d) in code.iter().zip(even).zip(odd) {
            // Sign-extend each nibble.
            let lo = ((*b << 4) as i8) >> 4;
            let hi = (*b as i8) >> 4;
            acc += i32::from(lo) * i32::from(*e) + i32::from(hi) * i32::from(*d);
        }
        *o = acc;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::store::distance::test_vector as unit;

    #[test]
    fn codes_order_vectors_as_their_dot_products_do() {
        for dims in [96, 97] {
            let vectors: Vec<f32> = (0..20_000).flat_map(|i| unit(i + 1, dims)).collect();
            let codes = Codes::build(&vectors, dims);
            assert_eq!(codes.bytes(), 20_000 * (dims.div_ceil(2) + 4));
            for q in 0..5 {
                let query = unit(100_000 + q, dims);
                let approx = codes.scores(&quantise(&query));
                let exact: Vec<f32> =
                    vectors.chunks_exact(dims).map(|v| crate::store::distance::dot(&query, v)).collect();
                let top = |s: &[f32], n: usize| {
                    let mut i: Vec<usize> = (0..s.len()).collect();
                    i.sort_by(|a, b| s[*b].total_cmp(&s[*a]));
                    i.truncate(n);
                    i
                };
                // The exact top 10 is among the 5 x 10 best codes (what a search re-scores).
                let candidates = top(&approx, 50);
                assert!(top(&exact, 10).iter().all(|i| candidates.contains(i)), "dims {dims}, query {q}");
            }
        }
    }

    #[test]
    fn nibbles_carry_signed_values() {
        let codes = Codes::build(&[0.7, -0.7, 0.1, -0.2, 0.0], 5);
        assert_eq!(codes.codes.len(), 3);
        // Exact integer dot products: 7·127 + (−7)·(−127) + 1·18 + (−2)·(−36) = 1868 (query codes
        // below), times the vector's scale 0.1.
        let q = quantise(&[0.7, -0.7, 0.1, -0.2, 0.0]);
        assert_eq!(q.even, [127, 18, 0]);
        assert_eq!(q.odd, [-127, -36, 0]);
        let s = codes.scores(&q);
        assert!((s[0] - (7 * 127 + 7 * 127 + 18 + 2 * 36) as f32 * 0.1).abs() < 1e-3, "{s:?}");
    }

    #[test]
    fn zero_and_non_finite_vectors_get_zero_codes() {
        assert_eq!(scaled(&[0.0, 0.0], 7.0), (vec![0, 0], 0.0));
        assert_eq!(scaled(&[f32::NAN, 1.0], 7.0).1, 0.0);
        let (c, s) = scaled(&[0.5, -1.0, 0.25], 127.0);
        assert_eq!(c, [64, -127, 32]);
        assert!((s - 1.0 / 127.0).abs() < 1e-7);
        let codes = Codes::build(&[], 4);
        assert!(codes.scores(&quantise(&[1.0, 0.0, 0.0, 0.0])).is_empty());
    }
}
