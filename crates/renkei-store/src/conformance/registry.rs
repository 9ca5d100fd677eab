//! What every [`Registry`] backend must do. Each function takes a fresh, empty registry
//! (two of them, of different tenants of one store, for the isolation test).

use renkei_core::UnifiedAddressNumber;
use renkei_proto::v1::{Acquisition, AcquisitionState, ProvisionCopy};

use prost::Message as _;

use crate::registry::{BatchReport, CopyCursor, CopyRow, CopyWrite, Registry, Rejected, Rejection};

fn uan(s: &str) -> UnifiedAddressNumber {
    UnifiedAddressNumber::parse(s).unwrap()
}

fn copy(item: u32, number: &str, at_ms: i64) -> ProvisionCopy {
    ProvisionCopy {
        unified_address_number: number.into(),
        item,
        updated_at_ms: at_ms,
        content_sha256: format!("{item}-{number}-{at_ms}"),
        ..Default::default()
    }
}

fn row(c: &ProvisionCopy) -> CopyRow {
    CopyRow {
        item: c.item,
        uan: uan(&c.unified_address_number),
        encoded: c.encode_to_vec(),
    }
}

/// Registering twice is no error and says the second time that the number was known.
pub async fn registration_is_idempotent(r: &dyn Registry) {
    let a = uan("1001");
    assert!(
        !r.is_registered(&a).await.unwrap(),
        "an empty store knows nobody"
    );
    assert!(
        r.register(&a, 1).await.unwrap(),
        "the first registration is new"
    );
    assert!(!r.register(&a, 2).await.unwrap(), "a repeat is not new");
    assert!(r.is_registered(&a).await.unwrap());
    let many = [uan("1002"), uan("1003"), uan("1001"), uan("1002")];
    let report = r.register_many(&many, 3).await.unwrap();
    assert_eq!(
        report.rejected,
        Vec::new(),
        "repeats in a batch are not problems"
    );
    assert_eq!(report.accepted, 4, "every record of the batch is accepted");
    for n in ["1001", "1002", "1003"] {
        assert!(r.is_registered(&uan(n)).await.unwrap(), "{n} registered");
    }
    assert!(!r.is_registered(&uan("1004")).await.unwrap());
    assert_eq!(r.registered_count().await.unwrap(), 3, "repeats count once");
    r.commit().await.unwrap();
}

/// A link resolves both ways; relinking a person retires their old symbol and leaves
/// other people alone.
pub async fn symbols_link_both_ways(r: &dyn Registry) {
    let (a, b) = (uan("1"), uan("2"));
    assert_eq!(r.symbol_of(&a).await.unwrap(), None);
    assert_eq!(r.person_of(b"s-a").await.unwrap(), None);
    r.link(&[(a.clone(), b"s-a".to_vec()), (b.clone(), b"s-b".to_vec())])
        .await
        .unwrap();
    assert_eq!(r.symbol_of(&a).await.unwrap().as_deref(), Some(&b"s-a"[..]));
    assert_eq!(r.symbol_of(&b).await.unwrap().as_deref(), Some(&b"s-b"[..]));
    assert_eq!(r.person_of(b"s-a").await.unwrap(), Some(a.clone()));
    assert_eq!(r.person_of(b"s-b").await.unwrap(), Some(b.clone()));

    r.link(&[(a.clone(), b"s-a2".to_vec())]).await.unwrap();
    assert_eq!(
        r.symbol_of(&a).await.unwrap().as_deref(),
        Some(&b"s-a2"[..])
    );
    assert_eq!(r.person_of(b"s-a2").await.unwrap(), Some(a.clone()));
    assert_eq!(
        r.person_of(b"s-a").await.unwrap(),
        None,
        "a retired symbol must not resolve to its former person"
    );
    assert_eq!(r.person_of(b"s-b").await.unwrap(), Some(b.clone()));

    // Linking the same pair again changes nothing.
    r.link(&[(a.clone(), b"s-a2".to_vec())]).await.unwrap();
    assert_eq!(r.person_of(b"s-a2").await.unwrap(), Some(a));
    r.link(&[]).await.unwrap();
    r.commit().await.unwrap();
}

/// Acquisitions are kept by processing serial; a later state replaces the earlier one, and
/// the stream position is not stored.
pub async fn acquisitions_are_kept_by_serial(r: &dyn Registry) {
    let requested = |serial: &str, index: u64| Acquisition {
        processing_serial: serial.into(),
        unified_address_number: "7".into(),
        state: AcquisitionState::Requested as i32,
        index,
        updated_at_ms: 10,
        ..Default::default()
    };
    assert_eq!(r.acquisition("P-1").await.unwrap(), None);
    r.save_acquisitions(&[requested("P-1", 5), requested("P-2", 6)])
        .await
        .unwrap();
    let got = r.acquisition("P-1").await.unwrap().unwrap();
    assert_eq!(got.state, AcquisitionState::Requested as i32);
    assert_eq!(got.index, 0, "the stream position is not stored");
    assert_eq!(got.unified_address_number, "7");

    let failed = Acquisition {
        state: AcquisitionState::Failed as i32,
        error: "the hub could not be reached".into(),
        updated_at_ms: 20,
        ..requested("P-2", 6)
    };
    r.save_acquisitions(std::slice::from_ref(&failed))
        .await
        .unwrap();
    let got = r.acquisition("P-2").await.unwrap().unwrap();
    assert_eq!(got, Acquisition { index: 0, ..failed });
    assert_eq!(
        r.acquisition("P-1").await.unwrap().unwrap().state,
        AcquisitionState::Requested as i32,
        "saving one serial leaves the others"
    );
    r.commit().await.unwrap();
}

/// Put, replace, get, delete and count one copy; a copy needs a registered person.
pub async fn copies_round_trip(r: &dyn Registry) {
    let a = uan("1001");
    let first = copy(25, "1001", 1);
    assert_eq!(
        r.put_copy(row(&first)).await.unwrap(),
        CopyWrite::Refused(Rejection::NotRegistered),
        "a copy for an unregistered person is refused"
    );
    assert_eq!(
        r.copy(25, &a).await.unwrap(),
        None,
        "a refused copy is not stored"
    );
    assert_eq!(r.copy_count().await.unwrap(), 0);

    r.register(&a, 1).await.unwrap();
    assert_eq!(r.put_copy(row(&first)).await.unwrap(), CopyWrite::Inserted);
    assert_eq!(r.copy(25, &a).await.unwrap(), Some(first.clone()));
    assert_eq!(r.copy(26, &a).await.unwrap(), None, "keyed by item too");
    let second = copy(25, "1001", 2);
    assert_eq!(r.put_copy(row(&second)).await.unwrap(), CopyWrite::Replaced);
    assert_eq!(r.copy(25, &a).await.unwrap(), Some(second));
    let other_item = copy(26, "1001", 3);
    assert_eq!(
        r.put_copy(row(&other_item)).await.unwrap(),
        CopyWrite::Inserted
    );
    assert_eq!(r.copy_count().await.unwrap(), 2);

    assert!(r.delete_copy(25, &a).await.unwrap());
    assert!(
        !r.delete_copy(25, &a).await.unwrap(),
        "nothing left to delete"
    );
    assert_eq!(r.copy(25, &a).await.unwrap(), None);
    assert_eq!(r.copy(26, &a).await.unwrap(), Some(other_item));
    assert_eq!(r.copy_count().await.unwrap(), 1);
    r.commit().await.unwrap();
}

/// A batch keeps its good rows and names the bad ones by position.
pub async fn bulk_copies_keep_good_rows(r: &dyn Registry) {
    r.register_many(&[uan("1"), uan("3")], 1).await.unwrap();
    let rows = [
        copy(25, "1", 1),
        copy(25, "2", 1),
        copy(25, "3", 1),
        copy(26, "4", 1),
    ];
    let report = r.put_copies(rows.iter().map(row).collect()).await.unwrap();
    assert_eq!(
        report,
        BatchReport {
            accepted: 2,
            rejected: vec![
                Rejected {
                    position: 1,
                    reason: Rejection::NotRegistered
                },
                Rejected {
                    position: 3,
                    reason: Rejection::NotRegistered
                },
            ],
        }
    );
    assert_eq!(r.copy(25, &uan("1")).await.unwrap(), Some(rows[0].clone()));
    assert_eq!(r.copy(25, &uan("3")).await.unwrap(), Some(rows[2].clone()));
    assert_eq!(r.copy(25, &uan("2")).await.unwrap(), None);
    assert_eq!(r.copy(26, &uan("4")).await.unwrap(), None);
    assert_eq!(r.copy_count().await.unwrap(), 2);
    let empty = r.put_copies(Vec::new()).await.unwrap();
    assert_eq!(empty, BatchReport::default());
    r.commit().await.unwrap();
}

/// Export pages come in (item, number) order, one item or all, and resume after a cursor.
pub async fn copies_page_in_key_order(r: &dyn Registry) {
    let numbers = ["1", "10", "2", "3"];
    let persons: Vec<_> = numbers.iter().map(|n| uan(n)).collect();
    r.register_many(&persons, 1).await.unwrap();
    let mut rows = Vec::new();
    for item in [26, 25, u32::MAX] {
        for n in numbers {
            rows.push(copy(item, n, 1));
        }
    }
    let report = r.put_copies(rows.iter().map(row).collect()).await.unwrap();
    assert_eq!(report.accepted, 12);

    let keys = |page: &[(CopyCursor, ProvisionCopy)]| -> Vec<(u32, String)> {
        page.iter()
            .map(|(c, p)| {
                assert_eq!(
                    (c.item, c.uan.as_str()),
                    (p.item, p.unified_address_number.as_str())
                );
                (c.item, c.uan.to_string())
            })
            .collect()
    };
    // Byte order of the number: "1" < "10" < "2" < "3".
    let order = ["1", "10", "2", "3"];
    let all = r.copies_page(None, None, 100).await.unwrap();
    let expected: Vec<(u32, String)> = [25, 26, u32::MAX]
        .into_iter()
        .flat_map(|i| order.iter().map(move |n| (i, n.to_string())))
        .collect();
    assert_eq!(keys(&all), expected);

    let only: Vec<(u32, String)> = order.iter().map(|n| (26, n.to_string())).collect();
    assert_eq!(
        keys(&r.copies_page(Some(26), None, 100).await.unwrap()),
        only
    );
    let last: Vec<(u32, String)> = order.iter().map(|n| (u32::MAX, n.to_string())).collect();
    assert_eq!(
        keys(&r.copies_page(Some(u32::MAX), None, 100).await.unwrap()),
        last
    );
    assert!(r.copies_page(Some(27), None, 100).await.unwrap().is_empty());

    // Paging by two through item 26 visits every copy once.
    let mut seen = Vec::new();
    let mut after: Option<CopyCursor> = None;
    loop {
        let page = r.copies_page(Some(26), after.as_ref(), 2).await.unwrap();
        assert!(page.len() <= 2, "a page holds at most `limit` copies");
        let Some((last, _)) = page.last() else { break };
        after = Some(last.clone());
        seen.extend(keys(&page));
    }
    assert_eq!(seen, only);
    // A cursor of an earlier item starts at the item's first copy; of a later one, nothing.
    let before = CopyCursor {
        item: 25,
        uan: uan("3"),
    };
    assert_eq!(
        keys(&r.copies_page(Some(26), Some(&before), 100).await.unwrap()),
        only
    );
    let beyond = CopyCursor {
        item: 27,
        uan: uan("1"),
    };
    assert!(
        r.copies_page(Some(26), Some(&beyond), 100)
            .await
            .unwrap()
            .is_empty()
    );
    // Across items, a cursor continues into the next item.
    let mid = CopyCursor {
        item: 25,
        uan: uan("3"),
    };
    let rest = r.copies_page(None, Some(&mid), 100).await.unwrap();
    assert_eq!(keys(&rest), expected[4..].to_vec());
}

/// Two tenants of one store never see each other's rows, even under the same keys.
pub async fn tenants_are_isolated(a: &dyn Registry, b: &dyn Registry) {
    let n = uan("1001");
    a.register(&n, 1).await.unwrap();
    a.link(&[(n.clone(), b"sym-a".to_vec())]).await.unwrap();
    a.save_acquisitions(&[Acquisition {
        processing_serial: "P-A".into(),
        unified_address_number: "1001".into(),
        ..Default::default()
    }])
    .await
    .unwrap();
    assert_eq!(
        a.put_copy(row(&copy(25, "1001", 1))).await.unwrap(),
        CopyWrite::Inserted
    );
    a.commit().await.unwrap();

    assert!(!b.is_registered(&n).await.unwrap(), "registration leaked");
    assert_eq!(b.registered_count().await.unwrap(), 0);
    assert_eq!(b.symbol_of(&n).await.unwrap(), None, "symbol leaked");
    assert_eq!(
        b.person_of(b"sym-a").await.unwrap(),
        None,
        "symbol index leaked"
    );
    assert_eq!(
        b.acquisition("P-A").await.unwrap(),
        None,
        "acquisition leaked"
    );
    assert_eq!(b.copy(25, &n).await.unwrap(), None, "copy leaked");
    assert_eq!(b.copy_count().await.unwrap(), 0);
    assert!(b.copies_page(None, None, 10).await.unwrap().is_empty());
    assert_eq!(
        b.put_copy(row(&copy(25, "1001", 2))).await.unwrap(),
        CopyWrite::Refused(Rejection::NotRegistered),
        "another tenant's registration must not admit a copy"
    );

    // The same keys in the other tenant are its own rows.
    b.register(&n, 2).await.unwrap();
    b.link(&[(n.clone(), b"sym-b".to_vec())]).await.unwrap();
    assert_eq!(
        b.put_copy(row(&copy(25, "1001", 2))).await.unwrap(),
        CopyWrite::Inserted
    );
    assert_eq!(
        a.symbol_of(&n).await.unwrap().as_deref(),
        Some(&b"sym-a"[..])
    );
    assert_eq!(a.person_of(b"sym-b").await.unwrap(), None);
    assert_eq!(a.person_of(b"sym-a").await.unwrap(), Some(n.clone()));
    assert_eq!(a.copy(25, &n).await.unwrap().unwrap().updated_at_ms, 1);
    assert_eq!(b.copy(25, &n).await.unwrap().unwrap().updated_at_ms, 2);
    assert!(b.delete_copy(25, &n).await.unwrap());
    assert!(
        a.copy(25, &n).await.unwrap().is_some(),
        "a delete crossed tenants"
    );
}
