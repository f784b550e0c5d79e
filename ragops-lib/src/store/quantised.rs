//! int8 codes of a segment's vectors, for long-lived readers.
//!
//! An exact scan reads every f32 vector (at 100k chunks of 640 values, 263 MB a query). A reader
//! that searches more than once (a library user, a chat session) builds, at its second search of
//! a large segment, one int8 code per vector (the vector scaled by its largest magnitude to
//! ±127): a quarter of the bytes, dotted with SIMD instructions chosen at run time. The scan ranks
//! candidates by their codes and re-scores the best `2k` with the f32 vectors, so the similarities
//! returned are exact and the ranking matches the exact scan's (docs/benchmarks.md: recall@10 1.0
//! against exact search when re-scoring 50 candidates for 10).

/// Below this many vectors a scan is split no further across threads.
const PARALLEL_MIN: usize = 8192;

/// int8 codes and their scales, one per vector.
pub(crate) struct Codes {
    dims: usize,
    codes: Vec<i8>,
    scales: Vec<f32>,
}

impl std::fmt::Debug for Codes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Codes").field("dims", &self.dims).field("vectors", &self.scales.len()).finish()
    }
}

/// A vector's int8 code and the scale that maps the code back (`x ≈ code · scale`).
pub(crate) fn quantise(v: &[f32]) -> (Vec<i8>, f32) {
    let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    if !(max.is_finite() && max > 0.0) || v.iter().any(|x| !x.is_finite()) {
        return (vec![0; v.len()], 0.0);
    }
    let scale = max / 127.0;
    (v.iter().map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8).collect(), scale)
}

impl Codes {
    /// Codes of `vectors` (`dims` values each, concatenated).
    pub(crate) fn build(vectors: &[f32], dims: usize) -> Codes {
        let n = vectors.len().checked_div(dims).unwrap_or(0);
        let mut codes = Vec::with_capacity(n * dims);
        let mut scales = Vec::with_capacity(n);
        for v in vectors.chunks_exact(dims.max(1)) {
            let (c, s) = quantise(v);
            codes.extend_from_slice(&c);
            scales.push(s);
        }
        Codes { dims, codes, scales }
    }

    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.codes.len() + self.scales.len() * 4
    }

    /// Approximate similarities of every vector to a query code, proportional to the dot
    /// product (the query's own scale is left out: it does not change the order).
    pub(crate) fn scores(&self, query: &[i8]) -> Vec<f32> {
        let mut out = vec![0i32; self.scales.len()];
        if self.dims == 0 || query.len() != self.dims {
            return vec![0.0; self.scales.len()];
        }
        split_dots(query, &self.codes, self.dims, &mut out);
        out.iter().zip(&self.scales).map(|(d, s)| *d as f32 * s).collect()
    }
}

/// Dot products, the work split in halves over the rayon pool while large enough.
fn split_dots(query: &[i8], codes: &[i8], dims: usize, out: &mut [i32]) {
    if out.len() < PARALLEL_MIN {
        dots(query, codes, dims, out);
        return;
    }
    let half = out.len() / 2;
    let (a, b) = out.split_at_mut(half);
    let (ca, cb) = codes.split_at(half * dims);
    rayon::join(|| split_dots(query, ca, dims, a), || split_dots(query, cb, dims, b));
}

/// The dot product of `query` with each code, compiled for several instruction sets and
/// dispatched at run time (the loop is written for the compiler to vectorise).
#[multiversion::multiversion(targets("x86_64+avx512f+avx512bw+avx512vl", "x86_64+avx2+fma", "x86_64+sse4.1"))]
fn dots(query: &[i8], codes: &[i8], dims: usize, out: &mut [i32]) {
    for (code, o) in codes.chunks_exact(dims).zip(out.iter_mut()) {
        let mut acc = 0i32;
        for (a, b) in query.iter().zip(code) {
            acc += i32::from(*a) * i32::from(*b);
        }
        *o = acc;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(seed: u64, dims: usize) -> Vec<f32> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut v: Vec<f32> = (0..dims)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % 2000) as f32 / 1000.0 - 1.0
            })
            .collect();
        let norm = v.iter().map(|a| a * a).sum::<f32>().sqrt();
        v.iter_mut().for_each(|a| *a /= norm);
        v
    }

    #[test]
    fn codes_order_vectors_as_their_dot_products_do() {
        let dims = 96;
        let vectors: Vec<f32> = (0..20_000).flat_map(|i| unit(i + 1, dims)).collect();
        let codes = Codes::build(&vectors, dims);
        assert_eq!(codes.bytes(), 20_000 * (dims + 4));
        for q in 0..5 {
            let query = unit(100_000 + q, dims);
            let approx = codes.scores(&quantise(&query).0);
            let exact: Vec<f32> = vectors.chunks_exact(dims).map(|v| crate::store::distance::dot(&query, v)).collect();
            let top = |s: &[f32], n: usize| {
                let mut i: Vec<usize> = (0..s.len()).collect();
                i.sort_by(|a, b| s[*b].total_cmp(&s[*a]));
                i.truncate(n);
                i
            };
            // The exact top 10 is among the 40 best codes.
            let candidates = top(&approx, 40);
            assert!(top(&exact, 10).iter().all(|i| candidates.contains(i)), "query {q}");
        }
    }

    #[test]
    fn zero_and_non_finite_vectors_get_zero_codes() {
        assert_eq!(quantise(&[0.0, 0.0]), (vec![0, 0], 0.0));
        assert_eq!(quantise(&[f32::NAN, 1.0]).1, 0.0);
        let (c, s) = quantise(&[0.5, -1.0, 0.25]);
        assert_eq!(c, [64, -127, 32]);
        assert!((s - 1.0 / 127.0).abs() < 1e-7);
        let codes = Codes::build(&[], 4);
        assert!(codes.scores(&[1, 2, 3, 4]).is_empty());
    }
}
