//! One seed, separate random streams per purpose.
//!
//! Each purpose gets its own generator from the root seed salted with the purpose's
//! name, so adding a workload operation does not shift the fault schedule, and the
//! other way round.

use rand::SeedableRng;
use rand::rngs::StdRng;

/// The root seed of a run and the generators derived from it.
#[derive(Debug, Clone, Copy)]
pub struct Seeds {
    pub root: u64,
}

impl Seeds {
    pub fn new(root: u64) -> Self {
        Self { root }
    }

    /// A 64-bit sub-seed for `purpose` (and an index, for per-node or per-client streams).
    pub fn sub(&self, purpose: &str, index: u64) -> u64 {
        let mut h = FNV_OFFSET;
        for b in purpose.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(FNV_PRIME);
        }
        splitmix(self.root ^ splitmix(h ^ splitmix(index)))
    }

    /// A generator for `purpose`.
    pub fn rng(&self, purpose: &str, index: u64) -> StdRng {
        StdRng::seed_from_u64(self.sub(purpose, index))
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// FNV-1a over bytes: a stable hash for comparing event logs across runs.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(FNV_OFFSET, |h, b| (h ^ u64::from(*b)).wrapping_mul(FNV_PRIME))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purposes_get_different_streams() {
        let seeds = Seeds::new(7);
        assert_ne!(seeds.sub("faults", 0), seeds.sub("workload", 0));
        assert_ne!(seeds.sub("workload", 0), seeds.sub("workload", 1));
        assert_eq!(seeds.sub("faults", 3), Seeds::new(7).sub("faults", 3));
    }
}
