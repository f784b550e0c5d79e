//! The distance the HNSW graphs use: `1 - dot`, clamped.
//!
//! `anndists::DistDot` asserts `dot >= 0` and `dot <= 1.000002`, which near-identical unit
//! vectors (and zero vectors) violate, so ragops uses its own.

use hnsw_rs::prelude::Distance;

/// `1 - a·b`, clamped to `[0, 2]`, for unit vectors.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DotDistance;

impl Distance<f32> for DotDistance {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        let d = 1.0 - dot(a, b);
        // hnsw_rs panics on NaN; stored and query vectors are checked finite, but never panic.
        if d.is_nan() { 2.0 } else { d.clamp(0.0, 2.0) }
    }
}

/// The dot product of two equally long vectors (compiled for several instruction sets and
/// dispatched at run time).
#[multiversion::multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2+fma", "x86_64+sse4.1"))]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Four accumulators let the compiler vectorise without fast-math.
    let mut acc = [0.0f32; 4];
    let chunks = a.len() / 4;
    for i in 0..chunks {
        let j = i * 4;
        acc[0] += a[j] * b[j];
        acc[1] += a[j + 1] * b[j + 1];
        acc[2] += a[j + 2] * b[j + 2];
        acc[3] += a[j + 3] * b[j + 3];
    }
    let mut sum = acc[0] + acc[1] + acc[2] + acc[3];
    for j in chunks * 4..a.len() {
        sum += a[j] * b[j];
    }
    sum
}

/// A deterministic pseudo-random unit vector, for tests.
#[cfg(test)]
pub(crate) fn test_vector(seed: u64, dims: usize) -> Vec<f32> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v: Vec<f32> = (0..dims)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 2000) as f32 / 1000.0 - 1.0
        })
        .collect();
    crate::provider::builtin::normalize(&mut v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_and_zero_vectors_do_not_panic() {
        let v = [0.6f32, 0.8, 0.0, 0.0, 0.0];
        assert!(DotDistance.eval(&v, &v) < 1e-6);
        assert_eq!(DotDistance.eval(&[0.0; 5], &v), 1.0);
        assert_eq!(dot(&v, &v), 1.0);
        assert_eq!(DotDistance.eval(&[f32::NAN; 5], &v), 2.0);
    }
}
