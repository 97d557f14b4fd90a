//! Enumerations stored and sent as text: each name is written once, in
//! [`text_enum!`](crate::text_enum!), which derives the string form, parsing, JSON, the
//! OpenAPI schema and the PostgreSQL encoding from it.

/// Declares an enumeration whose variants are named by string literals:
///
/// ```ignore
/// text_enum! {
///     /// Role of an account.
///     pub enum Role { Admin = "admin", Manager = "manager", User = "user" }
/// }
/// ```
///
/// It gets `ALL`, `NAMES`, `as_str`, `parse`, `Display`, serde (an unknown name is refused
/// with serde's own "unknown variant" message), a string-enum OpenAPI schema described by
/// the doc comment, and `sqlx` encoding as `text` (a stored name that is not a variant fails
/// the decode rather than being mapped to a default).
#[macro_export]
macro_rules! text_enum {
    (
        $(#[doc = $doc:expr])*
        $vis:vis enum $name:ident {
            $( $(#[doc = $vdoc:expr])* $variant:ident = $text:literal ),+ $(,)?
        }
    ) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $( $(#[doc = $vdoc])* $variant ),+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];
            /// Every name, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// The stored and serialised name.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }

            /// The variant with this name.
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct Visitor;
                impl ::serde::de::Visitor<'_> for Visitor {
                    type Value = $name;
                    fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        write!(f, "one of {:?}", $name::NAMES)
                    }
                    fn visit_str<E: ::serde::de::Error>(self, text: &str) -> Result<$name, E> {
                        $name::parse(text).ok_or_else(|| E::unknown_variant(text, $name::NAMES))
                    }
                }
                deserializer.deserialize_str(Visitor)
            }
        }

        impl ::utoipa::PartialSchema for $name {
            fn schema() -> ::utoipa::openapi::RefOr<::utoipa::openapi::schema::Schema> {
                let description = [$($doc),*].map(str::trim).join("\n");
                ::utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(::utoipa::openapi::schema::Type::String)
                    .description((!description.is_empty()).then_some(description))
                    .enum_values(Some($name::NAMES.iter().copied()))
                    .into()
            }
        }

        impl ::utoipa::ToSchema for $name {
            fn name() -> ::std::borrow::Cow<'static, str> {
                ::std::borrow::Cow::Borrowed(stringify!($name))
            }
        }

        impl ::sqlx::Type<::sqlx::Postgres> for $name {
            fn type_info() -> ::sqlx::postgres::PgTypeInfo {
                <&str as ::sqlx::Type<::sqlx::Postgres>>::type_info()
            }
            fn compatible(ty: &::sqlx::postgres::PgTypeInfo) -> bool {
                <&str as ::sqlx::Type<::sqlx::Postgres>>::compatible(ty)
            }
        }

        impl ::sqlx::postgres::PgHasArrayType for $name {
            fn array_type_info() -> ::sqlx::postgres::PgTypeInfo {
                <&str as ::sqlx::postgres::PgHasArrayType>::array_type_info()
            }
        }

        impl ::sqlx::Encode<'_, ::sqlx::Postgres> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut ::sqlx::postgres::PgArgumentBuffer,
            ) -> Result<::sqlx::encode::IsNull, ::sqlx::error::BoxDynError> {
                <&str as ::sqlx::Encode<::sqlx::Postgres>>::encode_by_ref(&self.as_str(), buf)
            }
        }

        impl<'r> ::sqlx::Decode<'r, ::sqlx::Postgres> for $name {
            fn decode(
                value: ::sqlx::postgres::PgValueRef<'r>,
            ) -> Result<Self, ::sqlx::error::BoxDynError> {
                let text = <&str as ::sqlx::Decode<::sqlx::Postgres>>::decode(value)?;
                $name::parse(text).ok_or_else(|| {
                    format!("unexpected {} `{text}` in the database", stringify!($name)).into()
                })
            }
        }
    };
}

#[cfg(test)]
mod tests {
    crate::text_enum! {
        /// A colour.
        pub enum Colour { Red = "red", DarkBlue = "dark.blue" }
    }

    #[test]
    fn names_round_trip_through_every_form() {
        for colour in Colour::ALL {
            assert_eq!(Colour::parse(colour.as_str()), Some(*colour));
            assert_eq!(colour.to_string(), colour.as_str());
            let json = serde_json::to_value(colour).unwrap_or_default();
            assert_eq!(json, colour.as_str());
            assert_eq!(serde_json::from_value::<Colour>(json).ok(), Some(*colour));
        }
        assert_eq!(Colour::parse("Red"), None);
    }

    #[test]
    fn unknown_names_are_refused_like_serde_does() {
        let error = serde_json::from_str::<Colour>("\"green\"")
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            error.as_deref(),
            Some("unknown variant `green`, expected `red` or `dark.blue` at line 1 column 7")
        );
    }

    #[test]
    fn the_schema_lists_the_names_with_the_doc_comment() {
        let schema =
            serde_json::to_value(<Colour as utoipa::PartialSchema>::schema()).unwrap_or_default();
        assert_eq!(
            schema,
            serde_json::json!({"type": "string", "description": "A colour.", "enum": ["red", "dark.blue"]})
        );
    }
}
