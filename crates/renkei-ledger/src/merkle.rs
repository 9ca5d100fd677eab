//! RFC 9162 §2 Merkle tree hashing and proofs over the log.
//!
//! The tree keeps in memory only the hashes of complete subtrees of [`CHUNK`] leaves and
//! more (about 4 bytes per record); leaf hashes below that are read back from the
//! segment frames, which store them. A 10-million-record log thus needs ~40 MB here
//! rather than the 640 MB a full in-memory tree would.

use crate::LedgerError;

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// log2 of the smallest subtree whose hash is kept in memory.
pub(crate) const CHUNK_BITS: u32 = 4;
pub(crate) const CHUNK: u64 = 1 << CHUNK_BITS;

/// RFC 9162 leaf hash: SHA-256(0x00 ‖ entry).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(&[0]);
    ctx.update(entry);
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// RFC 9162 interior node hash: SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(&[1]);
    ctx.update(left);
    ctx.update(right);
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// MTH of the empty tree: SHA-256 of the empty string.
pub fn empty_root() -> Hash {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, b"").as_ref());
    out
}

/// Largest power of two strictly less than `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// MTH over a slice of leaf hashes, straight from the RFC's definition.
pub(crate) fn root_of(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n as u64) as usize;
            node_hash(&root_of(&leaves[..k]), &root_of(&leaves[k..]))
        }
    }
}

/// The roots of the perfect subtrees a log of any size decomposes into, largest first:
/// enough to compute the root at the current size while streaming leaves, in O(log n)
/// memory. The offline verifier uses it to recompute every signed head's root.
#[derive(Debug, Default, Clone)]
pub struct CompactRange {
    size: u64,
    /// (height, hash) of each perfect subtree, strictly decreasing heights.
    stack: Vec<(u32, Hash)>,
}

impl CompactRange {
    pub fn new() -> CompactRange {
        CompactRange::default()
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn push(&mut self, leaf: Hash) {
        let mut height = 0u32;
        let mut hash = leaf;
        while let Some(&(h, left)) = self.stack.last() {
            if h != height {
                break;
            }
            self.stack.pop();
            hash = node_hash(&left, &hash);
            height += 1;
        }
        self.stack.push((height, hash));
        self.size += 1;
    }

    /// The range at a purge point: its stored subtree hashes, then its stored leaves.
    pub(crate) fn seeded(p: &crate::purge::PurgePoint) -> Result<CompactRange, String> {
        let floor = p.upto & !(CHUNK - 1);
        let heights: Vec<u32> = (CHUNK_BITS..64)
            .rev()
            .filter(|h| floor >> h & 1 == 1)
            .collect();
        if heights.len() != p.blocks.len() || p.tail.len() as u64 != p.upto - floor {
            return Err(format!(
                "purge record for {} holds {} subtree and {} leaf hashes; {} and {} expected",
                p.upto,
                p.blocks.len(),
                p.tail.len(),
                heights.len(),
                p.upto - floor
            ));
        }
        let mut range = CompactRange {
            size: floor,
            stack: heights.into_iter().zip(p.blocks.iter().copied()).collect(),
        };
        for leaf in &p.tail {
            range.push(*leaf);
        }
        Ok(range)
    }

    /// MTH of everything pushed so far.
    pub fn root(&self) -> Hash {
        let mut iter = self.stack.iter().rev();
        let Some(&(_, mut acc)) = iter.next() else {
            return empty_root();
        };
        for (_, left) in iter {
            acc = node_hash(left, &acc);
        }
        acc
    }
}

/// Reads leaf hashes `from..to` (always within one chunk) back from storage.
pub(crate) trait LeafSource {
    fn leaf_hashes(&self, from: u64, to: u64) -> Result<Vec<Hash>, LedgerError>;
}

/// The in-memory part of the tree.
#[derive(Debug, Default)]
pub(crate) struct Tree {
    size: u64,
    /// `levels[k][i]`: hash of leaves `[i·2^(CHUNK_BITS+k), (i+1)·2^(CHUNK_BITS+k))`.
    levels: Vec<Vec<Hash>>,
    /// Leaf hashes of the incomplete last chunk.
    tail: Vec<Hash>,
    /// Records before this were purged: nothing about them can be proven any more.
    purged: u64,
}

impl Tree {
    /// The tree as a purge left it: only the hashes that stand in for the purged records.
    pub(crate) fn seeded(p: &crate::purge::PurgePoint) -> Result<Tree, String> {
        CompactRange::seeded(p)?;
        let floor = p.upto & !(CHUNK - 1);
        let mut tree = Tree {
            size: floor,
            levels: Vec::new(),
            tail: Vec::new(),
            purged: p.upto,
        };
        let heights = (CHUNK_BITS..64).rev().filter(|h| floor >> h & 1 == 1);
        for (h, hash) in heights.zip(p.blocks.iter()) {
            let level = (h - CHUNK_BITS) as usize;
            while tree.levels.len() <= level {
                tree.levels.push(Vec::new());
            }
            // Rows are indexed by position: the subtrees inside a purged block are never
            // read (requests about purged records are refused) and stand as zeros.
            let row = &mut tree.levels[level];
            row.resize((floor >> h) as usize - 1, [0u8; 32]);
            row.push(*hash);
        }
        for l in 0..tree.levels.len() {
            let len = (floor >> (l as u32 + CHUNK_BITS)) as usize;
            tree.levels[l].resize(len, [0u8; 32]);
        }
        for leaf in &p.tail {
            tree.push(*leaf);
        }
        Ok(tree)
    }

    pub(crate) fn purged(&self) -> u64 {
        self.purged
    }

    /// What a purge up to `upto` must keep (see `purge`).
    pub(crate) fn purge_point(
        &self,
        src: &dyn LeafSource,
        upto: u64,
    ) -> Result<crate::purge::PurgePoint, LedgerError> {
        self.check_size(upto)?;
        let floor = upto & !(CHUNK - 1);
        let mut blocks = Vec::new();
        for h in (CHUNK_BITS..64).rev().filter(|h| floor >> h & 1 == 1) {
            let start = (floor >> (h + 1)) << (h + 1);
            blocks.push(self.subtree(src, start, start + (1 << h))?);
        }
        let tail = if floor < upto {
            self.leaves(src, floor, upto)?
        } else {
            Vec::new()
        };
        Ok(crate::purge::PurgePoint { upto, blocks, tail })
    }

    pub(crate) fn set_purged(&mut self, upto: u64) {
        self.purged = upto;
    }

    fn refuse_purged(&self, what: &str, n: u64) -> Result<(), LedgerError> {
        if n < self.purged {
            return Err(LedgerError::OutOfRange(format!(
                "{what} {n} lies in records purged at the end of their retention; the log keeps records from {}",
                self.purged
            )));
        }
        Ok(())
    }

    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    pub(crate) fn push(&mut self, leaf: Hash) {
        self.tail.push(leaf);
        self.size += 1;
        if self.tail.len() as u64 == CHUNK {
            let h = root_of(&self.tail);
            self.tail.clear();
            self.push_level(0, h);
        }
    }

    fn push_level(&mut self, level: usize, hash: Hash) {
        if self.levels.len() <= level {
            self.levels.push(Vec::new());
        }
        let row = &mut self.levels[level];
        row.push(hash);
        if row.len().is_multiple_of(2) {
            let parent = node_hash(&row[row.len() - 2], &row[row.len() - 1]);
            self.push_level(level + 1, parent);
        }
    }

    fn leaves(&self, src: &dyn LeafSource, from: u64, to: u64) -> Result<Vec<Hash>, LedgerError> {
        let tail_start = self.size - self.tail.len() as u64;
        if from >= tail_start {
            Ok(self.tail[(from - tail_start) as usize..(to - tail_start) as usize].to_vec())
        } else {
            src.leaf_hashes(from, to)
        }
    }

    /// MTH(D[start:end]); `end` ≤ the tree's size.
    pub(crate) fn subtree(
        &self,
        src: &dyn LeafSource,
        start: u64,
        end: u64,
    ) -> Result<Hash, LedgerError> {
        let n = end - start;
        if n == 0 {
            return Ok(empty_root());
        }
        if n.is_power_of_two() && n >= CHUNK && start.is_multiple_of(n) {
            let level = (n.trailing_zeros() - CHUNK_BITS) as usize;
            if let Some(h) = self
                .levels
                .get(level)
                .and_then(|row| row.get((start / n) as usize))
            {
                return Ok(*h);
            }
        }
        if n <= CHUNK && start / CHUNK == (end - 1) / CHUNK {
            return Ok(root_of(&self.leaves(src, start, end)?));
        }
        let k = split(n);
        Ok(node_hash(
            &self.subtree(src, start, start + k)?,
            &self.subtree(src, start + k, end)?,
        ))
    }

    fn check_size(&self, size: u64) -> Result<(), LedgerError> {
        if size > self.size {
            return Err(LedgerError::OutOfRange(format!(
                "tree size {size} is larger than the log ({} records)",
                self.size
            )));
        }
        Ok(())
    }

    pub(crate) fn root(&self, src: &dyn LeafSource, size: u64) -> Result<Hash, LedgerError> {
        self.check_size(size)?;
        if size > 0 {
            self.refuse_purged("tree size", size)?;
        }
        self.subtree(src, 0, size)
    }

    /// RFC 9162 §2.1.3.1 PATH(m, D[0:size]).
    pub(crate) fn inclusion(
        &self,
        src: &dyn LeafSource,
        m: u64,
        size: u64,
    ) -> Result<Vec<Hash>, LedgerError> {
        self.check_size(size)?;
        if m >= size {
            return Err(LedgerError::OutOfRange(format!(
                "record {m} is not in a tree of {size} records"
            )));
        }
        self.refuse_purged("record", m)?;
        let mut path = Vec::new();
        self.path(src, m, 0, size, &mut path)?;
        Ok(path)
    }

    fn path(
        &self,
        src: &dyn LeafSource,
        m: u64,
        start: u64,
        end: u64,
        out: &mut Vec<Hash>,
    ) -> Result<(), LedgerError> {
        let n = end - start;
        if n <= 1 {
            return Ok(());
        }
        let k = split(n);
        if m < start + k {
            self.path(src, m, start, start + k, out)?;
            out.push(self.subtree(src, start + k, end)?);
        } else {
            self.path(src, m, start + k, end, out)?;
            out.push(self.subtree(src, start, start + k)?);
        }
        Ok(())
    }

    /// RFC 9162 §2.1.4.1 PROOF(first, D[0:second]).
    pub(crate) fn consistency(
        &self,
        src: &dyn LeafSource,
        first: u64,
        second: u64,
    ) -> Result<Vec<Hash>, LedgerError> {
        self.check_size(second)?;
        if first > second {
            return Err(LedgerError::OutOfRange(format!(
                "the first tree ({first}) is larger than the second ({second})"
            )));
        }
        let mut proof = Vec::new();
        if first == 0 || first == second {
            return Ok(proof);
        }
        self.refuse_purged("tree size", first)?;
        self.subproof(src, first, 0, second, true, &mut proof)?;
        Ok(proof)
    }

    /// SUBPROOF(m, D[start:end], b), with `m` counted from `start`.
    fn subproof(
        &self,
        src: &dyn LeafSource,
        m: u64,
        start: u64,
        end: u64,
        b: bool,
        out: &mut Vec<Hash>,
    ) -> Result<(), LedgerError> {
        let n = end - start;
        if m == n {
            if !b {
                out.push(self.subtree(src, start, end)?);
            }
            return Ok(());
        }
        let k = split(n);
        if m <= k {
            self.subproof(src, m, start, start + k, b, out)?;
            out.push(self.subtree(src, start + k, end)?);
        } else {
            self.subproof(src, m - k, start + k, end, false, out)?;
            out.push(self.subtree(src, start, start + k)?);
        }
        Ok(())
    }
}

/// Checks an inclusion proof (RFC 9162 §2.1.3.2). For clients of the log in this
/// workspace; the end-to-end tests check the server with their own, separate verifier.
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, path: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && &r == root
}

/// Checks a consistency proof (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    first: u64,
    second: u64,
    proof: &[Hash],
    first_root: &Hash,
    second_root: &Hash,
) -> bool {
    if first > second {
        return false;
    }
    if first == second {
        return proof.is_empty() && first_root == second_root;
    }
    if first == 0 {
        return proof.is_empty();
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if first.is_power_of_two() {
        path.push(*first_root);
    }
    path.extend_from_slice(proof);
    let Some((&c0, rest)) = path.split_first() else {
        return false;
    };
    let (mut fn_, mut sn) = (first - 1, second - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (c0, c0);
    for c in rest {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    &fr == first_root && &sr == second_root && sn == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Mem(Vec<Hash>);
    impl LeafSource for Mem {
        fn leaf_hashes(&self, from: u64, to: u64) -> Result<Vec<Hash>, LedgerError> {
            Ok(self.0[from as usize..to as usize].to_vec())
        }
    }

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(&(i as u32).to_be_bytes()))
            .collect()
    }

    #[test]
    fn empty_and_single_leaf_roots_follow_the_rfc() {
        assert_eq!(
            hex(&empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        // SHA-256(0x00) — the leaf hash of the empty entry.
        assert_eq!(
            hex(&leaf_hash(b"")),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
    }

    fn hex(h: &Hash) -> String {
        h.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn tree_roots_match_the_definition_and_compact_range() {
        let all = leaves(300);
        let src = Mem(all.clone());
        let mut tree = Tree::default();
        let mut compact = CompactRange::new();
        assert_eq!(tree.root(&src, 0).unwrap(), empty_root());
        for (i, l) in all.iter().enumerate() {
            tree.push(*l);
            compact.push(*l);
            let n = i + 1;
            let expected = root_of(&all[..n]);
            assert_eq!(tree.root(&src, n as u64).unwrap(), expected, "size {n}");
            assert_eq!(compact.root(), expected, "compact size {n}");
        }
        for n in [0, 1, 15, 16, 17, 100, 256, 299] {
            assert_eq!(tree.root(&src, n).unwrap(), root_of(&all[..n as usize]));
        }
        assert!(matches!(
            tree.root(&src, 301),
            Err(LedgerError::OutOfRange(_))
        ));
    }

    #[test]
    fn every_inclusion_and_consistency_proof_verifies_and_wrong_ones_do_not() {
        let all = leaves(70);
        let src = Mem(all.clone());
        let mut tree = Tree::default();
        for l in &all {
            tree.push(*l);
        }
        for n in 1..=70u64 {
            let root = root_of(&all[..n as usize]);
            for m in 0..n {
                let path = tree.inclusion(&src, m, n).unwrap();
                assert!(verify_inclusion(&all[m as usize], m, n, &path, &root));
                assert!(!verify_inclusion(&leaf_hash(b"other"), m, n, &path, &root));
                if let Some(first) = path.first() {
                    let mut bad = path.clone();
                    bad[0] = node_hash(first, first);
                    assert!(!verify_inclusion(&all[m as usize], m, n, &bad, &root));
                }
            }
            for m in 0..=n {
                let old = root_of(&all[..m as usize]);
                let proof = tree.consistency(&src, m, n).unwrap();
                assert!(verify_consistency(m, n, &proof, &old, &root), "{m} {n}");
                if m > 0 && m < n {
                    let wrong_old = root_of(&all[1..m as usize + 1]);
                    assert!(!verify_consistency(m, n, &proof, &wrong_old, &root));
                }
            }
        }
        assert!(tree.inclusion(&src, 5, 5).is_err());
        assert!(tree.consistency(&src, 6, 5).is_err());
    }
}
