//! The user listing: its query parameters, checked into a [`ListFilter`] for the SQL.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::{Email, Role, Status, check_external_id};
use crate::crypto::BlindIndex;
use crate::paging::{Paging, check_instant};
use crate::validation::{FieldProblems, Invalid};

/// Sort keys.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SortField {
    #[default]
    CreatedAt,
    Name,
    LastLoginAt,
}

/// Sort direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    Asc,
    #[default]
    Desc,
}

/// Query parameters of `GET /api/v1/users`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page number, from 1.
    #[param(minimum = 1, default = 1)]
    pub page: Option<i64>,
    /// Items per page, 1-100.
    #[param(minimum = 1, maximum = 100, default = 20)]
    pub per_page: Option<i64>,
    /// Only this role.
    #[param(inline)]
    pub role: Option<Role>,
    /// Only this status; deactivated users are listed only when asked for.
    #[param(inline)]
    pub status: Option<Status>,
    /// Exact email address (case-insensitive; white space around it is trimmed).
    #[param(format = "email", max_length = 254)]
    pub email: Option<String>,
    /// Case-insensitive substring of the name: at most 100 characters after trimming white
    /// space, without control characters.
    #[param(
        pattern = "^[\\t-\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]*([^\\u0000-\\u0020\\u007F-\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]([^\\u0000-\\u001F\\u007F-\\u009F]{0,98}[^\\u0000-\\u0020\\u007F-\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000])?)?[\\t-\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]*$"
    )]
    pub q: Option<String>,
    /// Exact identifier another system gave the user (kept from an import), 1-200
    /// characters.
    #[param(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub external_id: Option<String>,
    /// Created strictly after this instant (RFC 3339).
    pub created_after: Option<DateTime<Utc>>,
    /// Created strictly before this instant (RFC 3339).
    pub created_before: Option<DateTime<Utc>>,
    /// Sort key (default `created_at`).
    #[param(inline)]
    pub sort: Option<SortField>,
    /// Sort direction (default `desc`).
    #[param(inline)]
    pub order: Option<Order>,
}

/// A checked listing request.
#[derive(Debug, Clone)]
pub struct ListFilter {
    pub paging: Paging,
    pub role: Option<Role>,
    pub status: Option<Status>,
    pub email_index: Option<Vec<u8>>,
    /// A `LIKE` pattern over `lower(name)`, wildcards of the input escaped.
    pub name_pattern: Option<String>,
    pub external_id: Option<String>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    pub sort: SortField,
    pub descending: bool,
}

impl ListQuery {
    /// Checks every parameter; each problem names its parameter.
    pub fn check(self, blind_index: &BlindIndex) -> Result<ListFilter, FieldProblems> {
        let mut problems = Vec::new();
        let paging = Paging::check(self.page, self.per_page, &mut problems);
        check_instant("created_after", self.created_after, &mut problems);
        check_instant("created_before", self.created_before, &mut problems);
        let email_index = match self.email.as_deref() {
            Some(raw) => match Email::parse(raw) {
                Ok(email) => Some(blind_index.compute(&email.normalised())),
                Err(problem) => {
                    problems.push(("email", problem));
                    None
                }
            },
            None => None,
        };
        let name_pattern = match self.q.as_deref().map(str::trim) {
            Some(q) if q.chars().count() > 100 => {
                problems.push((
                    "q",
                    Invalid::new("too_long", "must be at most 100 characters"),
                ));
                None
            }
            Some(q) if q.chars().any(char::is_control) => {
                problems.push((
                    "q",
                    Invalid::new("invalid_characters", "must not contain control characters"),
                ));
                None
            }
            Some("") | None => None,
            Some(q) => Some(format!("%{}%", escape_like(&q.to_lowercase()))),
        };
        let external_id = match self.external_id {
            Some(id) => match check_external_id(&id) {
                Ok(()) => Some(id),
                Err(problem) => {
                    problems.push(("external_id", problem));
                    None
                }
            },
            None => None,
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(ListFilter {
            paging,
            role: self.role,
            status: self.status,
            email_index,
            name_pattern,
            external_id,
            created_after: self.created_after,
            created_before: self.created_before,
            sort: self.sort.unwrap_or_default(),
            descending: self.order.unwrap_or_default() == Order::Desc,
        })
    }
}

/// Escapes `LIKE` wildcards so that the input matches literally.
fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blind() -> BlindIndex {
        BlindIndex::new([1; 32])
    }

    #[test]
    fn defaults_are_the_contract_ones() {
        let Ok(filter) = ListQuery::default().check(&blind()) else {
            panic!("valid")
        };
        assert_eq!(filter.paging, Paging::default());
        assert_eq!(filter.sort, SortField::CreatedAt);
        assert!(filter.descending);
        assert_eq!(filter.status, None);
    }

    #[test]
    fn out_of_range_values_name_their_parameter() {
        let query = ListQuery {
            page: Some(0),
            per_page: Some(101),
            email: Some("nope".into()),
            ..Default::default()
        };
        let Err(problems) = query.check(&blind()) else {
            panic!("invalid")
        };
        let fields: Vec<&str> = problems.iter().map(|(f, _)| *f).collect();
        assert_eq!(fields, ["page", "per_page", "email"]);
        let query = ListQuery {
            q: Some("x".repeat(101)),
            ..Default::default()
        };
        assert!(query.check(&blind()).is_err());
    }

    #[test]
    fn name_search_escapes_wildcards_and_refuses_control_characters() {
        let query = ListQuery {
            q: Some(" 50%_Off\\ ".into()),
            ..Default::default()
        };
        let filter = query.check(&blind()).ok().and_then(|f| f.name_pattern);
        assert_eq!(filter.as_deref(), Some("%50\\%\\_off\\\\%"));
        let query = ListQuery {
            q: Some("a\0b".into()),
            ..Default::default()
        };
        assert!(query.check(&blind()).is_err());
    }

    /// Property-based checks of the query string as `AppQuery` reads it, then `check`.
    mod props {
        use super::*;
        use crate::http::extract::parse_query;
        use crate::paging::MAX_PER_PAGE;
        use proptest::prelude::*;

        const KNOWN: [&str; 10] = [
            "page",
            "per_page",
            "role",
            "status",
            "email",
            "q",
            "created_after",
            "created_before",
            "sort",
            "order",
        ];

        fn key() -> impl Strategy<Value = String> {
            prop_oneof![
                6 => prop::sample::select(KNOWN.to_vec()).prop_map(str::to_owned),
                1 => "[a-z_]{0,10}",
                1 => ".{0,6}",
            ]
        }

        fn value() -> impl Strategy<Value = String> {
            prop_oneof![
                any::<i64>().prop_map(|n| n.to_string()),
                prop::sample::select(vec![
                    i64::MIN,
                    i64::MIN + 1,
                    -1,
                    0,
                    1,
                    2,
                    20,
                    99,
                    100,
                    101,
                    i64::MAX - 1,
                    i64::MAX,
                ])
                .prop_map(|n| n.to_string()),
                "-?[0-9]{19,40}",
                "[+-]?[0-9]{0,4}(\\.[0-9]*)?(e[0-9]+)?",
                prop::sample::select(vec![
                    "user",
                    "manager",
                    "admin",
                    "active",
                    "deactivated",
                    "created_at",
                    "name",
                    "last_login_at",
                    "asc",
                    "desc",
                    "ada@example.com",
                    "Ada@Example.COM",
                    "2024-01-02T03:04:05Z",
                    "2024-13-40T99:99:99+25:00",
                    "",
                    " ",
                ])
                .prop_map(str::to_owned),
                "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(Z|[+-][0-9]{2}:[0-9]{2})",
                ".{0,24}",
                "\\PC{0,120}",
            ]
        }

        /// One `key=value` pair as a client may send it: encoded properly, raw (so `%`,
        /// `+`, `&`, `=` mean what they mean), a bare key, or percent-encoded junk.
        fn pair() -> impl Strategy<Value = String> {
            (key(), value(), 0..4u8).prop_map(|(key, value, style)| match style {
                0 => form_urlencoded::Serializer::new(String::new())
                    .append_pair(&key, &value)
                    .finish(),
                1 => format!("{key}={value}"),
                2 => key,
                _ => format!(
                    "{key}={}",
                    value
                        .bytes()
                        .map(|b| format!("%{b:02X}"))
                        .collect::<String>()
                ),
            })
        }

        fn query() -> impl Strategy<Value = String> {
            prop_oneof![
                6 => prop::collection::vec(pair(), 0..6).prop_map(|pairs| pairs.join("&")),
                1 => "([a-z_]{1,9}=?|%[0-9A-Fa-f]{0,2}|[&=+;#?])*",
                1 => any::<String>(),
            ]
        }

        fn keys_of(query: &str) -> Vec<String> {
            form_urlencoded::parse(query.as_bytes())
                .map(|(k, _)| k.into_owned())
                .collect()
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

            #[test]
            fn queries_give_a_bounded_filter_or_name_the_parameter(query in query()) {
                let sent = keys_of(&query);
                match parse_query::<ListQuery>(&query) {
                    Ok(parsed) => match parsed.check(&blind()) {
                        Ok(filter) => {
                            let paging = filter.paging;
                            prop_assert!(paging.page >= 1, "{:?}", paging);
                            prop_assert!((1..=MAX_PER_PAGE).contains(&paging.per_page), "{:?}", paging);
                            let offset = (paging.page - 1).checked_mul(paging.per_page).unwrap_or(i64::MAX);
                            prop_assert_eq!(paging.offset, offset);
                        }
                        Err(problems) => {
                            prop_assert!(!problems.is_empty());
                            for (field, _) in problems {
                                prop_assert!(["page", "per_page", "email", "q"].contains(&field), "{}", field);
                            }
                        }
                    },
                    Err(error) => {
                        prop_assert_eq!(error.code(), "validation_failed");
                        let errors = error.field_errors();
                        prop_assert!(!errors.is_empty());
                        for error in errors {
                            let known = KNOWN.contains(&error.field.as_str());
                            let unknown = error.code == "unknown_field" && sent.contains(&error.field);
                            prop_assert!(known || unknown, "{:?} for {:?}", error, query);
                        }
                    }
                }
            }
        }
    }
}
