//! Why an input was refused: a stable code and a message per named field, collected by the
//! parsers of the domain types and reported by the HTTP layer as `errors[]`.

/// Why one input was refused: a stable snake_case code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub code: &'static str,
    pub message: String,
}

impl Invalid {
    /// A problem with its stable code.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// Problems with named fields or query parameters, in the order they were found.
pub type FieldProblems = Vec<(&'static str, Invalid)>;

/// Parses one field, noting its problem under `field` and giving `None` when it is invalid,
/// so that every field of an input is checked and every problem reported at once.
pub fn field<T>(
    problems: &mut FieldProblems,
    field: &'static str,
    parsed: Result<T, Invalid>,
) -> Option<T> {
    parsed
        .map_err(|invalid| problems.push((field, invalid)))
        .ok()
}

/// The problems as one sentence, for messages outside HTTP (the command line, logs).
pub fn describe(problems: &FieldProblems) -> String {
    problems
        .iter()
        .map(|(field, invalid)| format!("{field} {}", invalid.message))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_is_checked_and_named() {
        let mut problems = Vec::new();
        let good = field(&mut problems, "a", Ok::<_, Invalid>(1));
        let bad = field::<i32>(&mut problems, "b", Err(Invalid::new("required", "missing")));
        assert_eq!((good, bad), (Some(1), None));
        assert_eq!(problems, vec![("b", Invalid::new("required", "missing"))]);
        assert_eq!(describe(&problems), "b missing");
    }
}
