//! Page numbers and sizes of listings, and the instants they filter on, checked the same
//! way everywhere.

use chrono::{DateTime, Datelike, Utc};

use crate::validation::{FieldProblems, Invalid};

/// Largest page.
pub const MAX_PER_PAGE: i64 = 100;
/// Page size when none is asked for.
pub const DEFAULT_PER_PAGE: i64 = 20;

/// A checked page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    /// From 1.
    pub page: i64,
    /// 1-100.
    pub per_page: i64,
    /// Rows to skip; saturates for absurd page numbers (which then simply find nothing).
    pub offset: i64,
}

impl Default for Paging {
    fn default() -> Self {
        Self {
            page: 1,
            per_page: DEFAULT_PER_PAGE,
            offset: 0,
        }
    }
}

impl Paging {
    /// Checks `page` (from 1) and `per_page` (1-100), adding a problem per bad parameter.
    pub fn check(page: Option<i64>, per_page: Option<i64>, problems: &mut FieldProblems) -> Self {
        let page = page.unwrap_or(1);
        if page < 1 {
            problems.push(("page", Invalid::new("out_of_range", "must be at least 1")));
        }
        let per_page = per_page.unwrap_or(DEFAULT_PER_PAGE);
        if !(1..=MAX_PER_PAGE).contains(&per_page) {
            problems.push((
                "per_page",
                Invalid::new("out_of_range", "must be between 1 and 100"),
            ));
        }
        Self {
            page,
            per_page,
            // `page` is unchecked here: i64::MIN would overflow a plain `page - 1`.
            offset: page
                .saturating_sub(1)
                .checked_mul(per_page)
                .unwrap_or(i64::MAX),
        }
    }

    /// Number of pages for `total` items.
    pub fn total_pages(&self, total: i64) -> i64 {
        if self.per_page <= 0 {
            0
        } else {
            (total + self.per_page - 1) / self.per_page
        }
    }
}

/// Checks an instant of a listing filter: RFC 3339 has four-digit years (0000-9999). The
/// parser also takes signed years far beyond them, which PostgreSQL cannot hold (before
/// 4713 BC it refuses the value, and the query would fail), so those are refused here.
pub fn check_instant(
    field: &'static str,
    value: Option<DateTime<Utc>>,
    problems: &mut FieldProblems,
) {
    if value.is_some_and(|instant| !(0..=9999).contains(&instant.year())) {
        problems.push((
            field,
            Invalid::new("out_of_range", "must have a year from 0000 to 9999"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_bounds_and_overflow() {
        let mut problems = Vec::new();
        let paging = Paging::check(None, None, &mut problems);
        assert_eq!(paging, Paging::default());
        assert!(problems.is_empty());

        Paging::check(Some(0), Some(101), &mut problems);
        let fields: Vec<&str> = problems.iter().map(|(f, _)| *f).collect();
        assert_eq!(fields, ["page", "per_page"]);

        let mut problems = Vec::new();
        let huge = Paging::check(Some(i64::MAX), Some(100), &mut problems);
        assert_eq!(huge.offset, i64::MAX);
        let lowest = Paging::check(Some(i64::MIN), None, &mut problems);
        assert_eq!(
            (problems.len(), lowest.offset),
            (1, i64::MAX),
            "no overflow"
        );
        assert_eq!(Paging::default().total_pages(57), 3);
        assert_eq!(Paging::default().total_pages(0), 0);
    }

    #[test]
    fn instants_keep_to_four_digit_years() {
        let instant = |text: &str| text.parse::<DateTime<Utc>>().ok();
        let mut problems = Vec::new();
        for fine in [
            "0000-01-01T00:00:00Z",
            "2026-11-26T12:00:00Z",
            "9999-12-31T23:59:59Z",
        ] {
            assert!(instant(fine).is_some(), "{fine}");
            check_instant("from", instant(fine), &mut problems);
        }
        check_instant("from", None, &mut problems);
        assert!(problems.is_empty());
        for far in ["-9999-01-01T00:00:00Z", "+10000-01-01T00:00:00Z"] {
            assert!(instant(far).is_some(), "the parser takes {far}");
            check_instant("to", instant(far), &mut problems);
        }
        let fields: Vec<&str> = problems.iter().map(|(f, _)| *f).collect();
        assert_eq!(fields, ["to", "to"]);
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn number() -> impl Strategy<Value = Option<i64>> {
            prop::option::of(prop_oneof![
                any::<i64>(),
                -3..120i64,
                prop::sample::select(vec![i64::MIN, i64::MIN + 1, i64::MAX - 1, i64::MAX]),
            ])
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

            /// Every page request is either within bounds or names exactly the parameters
            /// out of them; the offset never overflows.
            #[test]
            fn any_page_request_is_bounded_or_named(page in number(), per_page in number()) {
                let mut problems = Vec::new();
                let paging = Paging::check(page, per_page, &mut problems);
                let fields: Vec<&str> = problems.iter().map(|(f, _)| *f).collect();
                let page_ok = page.unwrap_or(1) >= 1;
                let per_page_ok = (1..=MAX_PER_PAGE).contains(&per_page.unwrap_or(DEFAULT_PER_PAGE));
                let mut expected = Vec::new();
                if !page_ok {
                    expected.push("page");
                }
                if !per_page_ok {
                    expected.push("per_page");
                }
                prop_assert_eq!(fields, expected);
                if page_ok && per_page_ok {
                    prop_assert!(paging.page >= 1 && (1..=MAX_PER_PAGE).contains(&paging.per_page));
                    prop_assert!(paging.offset >= 0);
                    prop_assert!(paging.total_pages(0) == 0 && paging.total_pages(1) == 1);
                }
            }
        }
    }
}
