//! The one place an [`ExchangeRecord`] (情報提供等記録) is shaped.
//!
//! Each exchange is recorded three times: by the inquirer, the hub and the provider. The
//! three must agree on who asked whom for what, so the shared facts are taken from one
//! [`Exchange`] rather than copied field by field at each call site.

use renkei_proto::v1::{Direction, ExchangeRecord, Outcome};

/// The keeper label of the hub's own records.
pub const HUB_KEEPER: &str = "hub";

/// What every record of one exchange shares, whoever keeps it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Exchange {
    pub inquirer: String,
    pub provider: String,
    pub procedure: String,
    pub item: u32,
    pub inquiry_id: String,
}

impl Exchange {
    /// The inquirer's record (情報照会).
    pub fn inquiry_record(&self, at_ms: i64) -> ExchangeRecord {
        ExchangeRecord {
            keeper: self.inquirer.clone(),
            direction: Direction::Inquiry as i32,
            counterparty: self.provider.clone(),
            ..self.base(at_ms)
        }
    }

    /// The provider's record (情報提供).
    pub fn provision_record(&self, at_ms: i64) -> ExchangeRecord {
        ExchangeRecord {
            keeper: self.provider.clone(),
            direction: Direction::Provision as i32,
            counterparty: self.inquirer.clone(),
            ..self.base(at_ms)
        }
    }

    /// The hub's relay record (情報提供ネットワークシステム).
    pub fn relay_record(&self, at_ms: i64) -> ExchangeRecord {
        ExchangeRecord {
            keeper: HUB_KEEPER.to_owned(),
            direction: Direction::Relay as i32,
            ..self.base(at_ms)
        }
    }

    fn base(&self, at_ms: i64) -> ExchangeRecord {
        ExchangeRecord {
            recorded_at_ms: at_ms,
            inquirer: self.inquirer.clone(),
            provider: self.provider.clone(),
            procedure: self.procedure.clone(),
            item: self.item,
            inquiry_id: self.inquiry_id.clone(),
            ..Default::default()
        }
    }
}

/// A housekeeping record (retention purges) that must itself be on record.
pub fn system_record(keeper: &str, outcome: Outcome, note: String, at_ms: i64) -> ExchangeRecord {
    ExchangeRecord {
        recorded_at_ms: at_ms,
        keeper: keeper.to_owned(),
        direction: Direction::System as i32,
        outcome: outcome as i32,
        note,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange() -> Exchange {
        Exchange {
            inquirer: "1310001".into(),
            provider: "2310002".into(),
            procedure: "P25".into(),
            item: 25,
            inquiry_id: "inq-1".into(),
        }
    }

    #[test]
    fn three_keepers_agree_on_the_exchange() {
        let e = exchange();
        let (i, p, r) = (
            e.inquiry_record(5),
            e.provision_record(5),
            e.relay_record(5),
        );
        for rec in [&i, &p, &r] {
            assert_eq!(rec.inquirer, "1310001");
            assert_eq!(rec.provider, "2310002");
            assert_eq!(rec.item, 25);
            assert_eq!(rec.inquiry_id, "inq-1");
            assert_eq!(rec.recorded_at_ms, 5);
        }
        assert_eq!(
            (i.keeper.as_str(), i.counterparty.as_str()),
            ("1310001", "2310002")
        );
        assert_eq!(
            (p.keeper.as_str(), p.counterparty.as_str()),
            ("2310002", "1310001")
        );
        assert_eq!(r.keeper, HUB_KEEPER);
        assert_eq!(r.direction, Direction::Relay as i32);
        assert!(r.counterparty.is_empty());
    }
}
