//! The vaccines Renkei knows, with the schedule facts the adapter and the validator need.
//!
//! Codes are Renkei's own short codes (documented in docs/vaccination-csv.md); the
//! Japanese names follow the 予防接種法 A類 (routine childhood) and B類 (elderly) lists.

/// 予防接種法 category.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    /// A類疾病: routine, mostly childhood.
    A,
    /// B類疾病: elderly, individual prevention.
    B,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vaccine {
    pub code: &'static str,
    pub name_ja: &'static str,
    pub category: Category,
    /// Highest dose number a record may carry for this vaccine.
    pub max_doses: u32,
}

pub const VACCINES: &[Vaccine] = &[
    Vaccine {
        code: "HIB",
        name_ja: "ヒブ",
        category: Category::A,
        max_doses: 4,
    },
    Vaccine {
        code: "PCV",
        name_ja: "小児の肺炎球菌",
        category: Category::A,
        max_doses: 4,
    },
    Vaccine {
        code: "HBV",
        name_ja: "B型肝炎",
        category: Category::A,
        max_doses: 3,
    },
    Vaccine {
        code: "ROTA",
        name_ja: "ロタウイルス",
        category: Category::A,
        max_doses: 3,
    },
    Vaccine {
        code: "DPT-IPV",
        name_ja: "四種混合",
        category: Category::A,
        max_doses: 5,
    },
    Vaccine {
        code: "DPT-IPV-HIB",
        name_ja: "五種混合",
        category: Category::A,
        max_doses: 4,
    },
    Vaccine {
        code: "BCG",
        name_ja: "BCG",
        category: Category::A,
        max_doses: 1,
    },
    Vaccine {
        code: "MR",
        name_ja: "麻しん風しん混合",
        category: Category::A,
        max_doses: 2,
    },
    Vaccine {
        code: "VAR",
        name_ja: "水痘",
        category: Category::A,
        max_doses: 2,
    },
    Vaccine {
        code: "JE",
        name_ja: "日本脳炎",
        category: Category::A,
        max_doses: 4,
    },
    Vaccine {
        code: "DT",
        name_ja: "二種混合",
        category: Category::A,
        max_doses: 1,
    },
    Vaccine {
        code: "HPV",
        name_ja: "ヒトパピローマウイルス感染症",
        category: Category::A,
        max_doses: 3,
    },
    Vaccine {
        code: "FLU",
        name_ja: "高齢者インフルエンザ",
        category: Category::B,
        max_doses: 99,
    },
    Vaccine {
        code: "PPSV23",
        name_ja: "高齢者の肺炎球菌",
        category: Category::B,
        max_doses: 1,
    },
    Vaccine {
        code: "COVID",
        name_ja: "新型コロナウイルス感染症",
        category: Category::B,
        max_doses: 99,
    },
];

pub fn lookup(code: &str) -> Option<&'static Vaccine> {
    VACCINES.iter().find(|v| v.code == code)
}

/// The routine childhood schedule (A類), simplified from the 定期接種 timetable: (vaccine
/// code, dose number, typical age in days). Shared by the demo population and `gen-data` so the
/// two synthetic sources agree.
pub const CHILD_SCHEDULE: &[(&str, u32, i64)] = &[
    ("HBV", 1, 60),
    ("ROTA", 1, 60),
    ("PCV", 1, 60),
    ("DPT-IPV-HIB", 1, 60),
    ("HBV", 2, 90),
    ("ROTA", 2, 90),
    ("PCV", 2, 90),
    ("DPT-IPV-HIB", 2, 90),
    ("PCV", 3, 120),
    ("DPT-IPV-HIB", 3, 120),
    ("BCG", 1, 150),
    ("HBV", 3, 220),
    ("MR", 1, 370),
    ("VAR", 1, 370),
    ("PCV", 4, 400),
    ("DPT-IPV-HIB", 4, 450),
    ("VAR", 2, 550),
    ("JE", 1, 1100),
    ("JE", 2, 1130),
    ("JE", 3, 1470),
    ("MR", 2, 2100),
    ("JE", 4, 3300),
    ("DT", 1, 4100),
];

#[cfg(test)]
mod tests {
    #[test]
    fn codes_are_unique() {
        let mut codes: Vec<_> = super::VACCINES.iter().map(|v| v.code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), super::VACCINES.len());
        assert!(super::lookup("MR").is_some());
        assert!(super::lookup("XX").is_none());
    }
}
