//! An independent RFC 9162 §2 proof verifier for the end-to-end tests.
//!
//! Written from the RFC's text (§2.1.1 hashing, §2.1.3.2 inclusion, §2.1.4.2
//! consistency), step by step, and deliberately sharing no code with `renkei-ledger`:
//! if the ledger's tree or proofs drift from the standard, these checks fail.

use ring::digest::{Context, SHA256};

fn sha256(parts: &[&[u8]]) -> Vec<u8> {
    let mut ctx = Context::new(&SHA256);
    for p in parts {
        ctx.update(p);
    }
    ctx.finish().as_ref().to_vec()
}

/// §2.1.1: MTH({d(0)}) = SHA-256(0x00 || d(0)).
pub fn leaf_hash(entry: &[u8]) -> Vec<u8> {
    sha256(&[&[0x00], entry])
}

/// §2.1.1: SHA-256(0x01 || left || right).
fn node(left: &[u8], right: &[u8]) -> Vec<u8> {
    sha256(&[&[0x01], left, right])
}

fn lsb(x: u64) -> bool {
    x & 1 == 1
}

/// §2.1.3.2 "Verifying an Inclusion Proof".
pub fn verify_inclusion(
    hash: &[u8],
    leaf_index: u64,
    tree_size: u64,
    inclusion_path: &[Vec<u8>],
    root_hash: &[u8],
) -> bool {
    // 1. Compare leaf_index against tree_size. If leaf_index >= tree_size, fail.
    if leaf_index >= tree_size {
        return false;
    }
    // 2. Set fn to leaf_index and sn to tree_size - 1.
    let mut f_n = leaf_index;
    let mut s_n = tree_size - 1;
    // 3. Set r to hash.
    let mut r = hash.to_vec();
    // 4. For each value p in the inclusion_path array:
    for p in inclusion_path {
        // a. If sn is 0, then stop the iteration and fail the proof verification.
        if s_n == 0 {
            return false;
        }
        // b. If LSB(fn) is set, or if fn is equal to sn, then:
        if lsb(f_n) || f_n == s_n {
            // i. Set r to HASH(0x01 || p || r).
            r = node(p, &r);
            // ii. If LSB(fn) is not set, then right-shift both fn and sn equally until
            //     either LSB(fn) is set or fn is 0.
            if !lsb(f_n) {
                while !lsb(f_n) && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            // Otherwise: i. Set r to HASH(0x01 || r || p).
            r = node(&r, p);
        }
        // c. Finally, right-shift both fn and sn one time.
        f_n >>= 1;
        s_n >>= 1;
    }
    // 5. Compare sn to 0. Compare r against the root_hash.
    s_n == 0 && r == root_hash
}

/// §2.1.4.2 "Verifying Consistency between Two Tree Heads" (for 0 < first < second).
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_hash: &[u8],
    second_hash: &[u8],
    consistency_path: &[Vec<u8>],
) -> bool {
    if first == 0 || first >= second {
        return false;
    }
    // 1. If consistency_path is an empty array, stop and fail the proof verification.
    if consistency_path.is_empty() {
        return false;
    }
    // 2. If first is an exact power of 2, then prepend first_hash to the consistency_path.
    let mut path: Vec<Vec<u8>> = Vec::new();
    if first.is_power_of_two() {
        path.push(first_hash.to_vec());
    }
    path.extend(consistency_path.iter().cloned());
    // 3. Set fn to first - 1 and sn to second - 1.
    let mut f_n = first - 1;
    let mut s_n = second - 1;
    // 4. If LSB(fn) is set, then right-shift both fn and sn equally until LSB(fn) is not set.
    while lsb(f_n) {
        f_n >>= 1;
        s_n >>= 1;
    }
    // 5. Set both fr and sr to the first value in the consistency_path array.
    let mut fr = path[0].clone();
    let mut sr = path[0].clone();
    // 6. For each subsequent value c in the consistency_path array:
    for c in &path[1..] {
        // a. If sn is 0, then stop the iteration and fail the proof verification.
        if s_n == 0 {
            return false;
        }
        // b. If LSB(fn) is set, or if fn is equal to sn, then:
        if lsb(f_n) || f_n == s_n {
            // i. Set fr to HASH(0x01 || c || fr). Set sr to HASH(0x01 || c || sr).
            fr = node(c, &fr);
            sr = node(c, &sr);
            // ii. If LSB(fn) is not set, then right-shift both fn and sn equally until
            //     either LSB(fn) is set or fn is 0.
            if !lsb(f_n) {
                while !lsb(f_n) && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            // Otherwise: i. Set sr to HASH(0x01 || sr || c).
            sr = node(&sr, c);
        }
        // c. Finally, right-shift both fn and sn one time.
        f_n >>= 1;
        s_n >>= 1;
    }
    // 7. Verify that fr == first_hash, sr == second_hash, and sn is 0.
    fr == first_hash && sr == second_hash && s_n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MTH straight from §2.1.1, to check the verifier itself on small trees.
    fn mth(d: &[Vec<u8>]) -> Vec<u8> {
        match d.len() {
            0 => sha256(&[]),
            1 => leaf_hash(&d[0]),
            n => {
                let mut k = 1;
                while k * 2 < n {
                    k *= 2;
                }
                node(&mth(&d[..k]), &mth(&d[k..]))
            }
        }
    }

    #[test]
    fn rfc_example_tree_of_seven() {
        // §2.1.5: the inclusion proof for d0 in the 7-leaf tree is [b, h, l]:
        // b = leaf(d1), h = MTH(d2,d3), l = MTH(d4,d5,d6).
        let d: Vec<Vec<u8>> = (0..7u8).map(|i| vec![i]).collect();
        let root = mth(&d);
        let path = vec![leaf_hash(&d[1]), mth(&d[2..4]), mth(&d[4..7])];
        assert!(verify_inclusion(&leaf_hash(&d[0]), 0, 7, &path, &root));
        assert!(!verify_inclusion(&leaf_hash(&d[1]), 0, 7, &path, &root));
        // Consistency between the 3- and 7-leaf trees is [c, d, g, l]:
        // c = leaf(d2), d = leaf(d3), g = MTH(d0,d1), l = MTH(d4..d6).
        let proof = vec![
            leaf_hash(&d[2]),
            leaf_hash(&d[3]),
            mth(&d[0..2]),
            mth(&d[4..7]),
        ];
        assert!(verify_consistency(3, 7, &mth(&d[..3]), &root, &proof));
        assert!(!verify_consistency(3, 7, &mth(&d[..2]), &root, &proof));
    }
}
