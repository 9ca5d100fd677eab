//! A fresh, empty sled store in a temporary directory, for the conformance runs.

use renkei_store::{Store, StoreOptions};

pub(crate) struct Fresh {
    _dir: tempfile::TempDir,
    pub(crate) store: Store,
}

pub(crate) fn fresh() -> Fresh {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
    Fresh { _dir: dir, store }
}
