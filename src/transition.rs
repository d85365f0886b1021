//! State machines: each status of the domain (lead, task, appointment, …)
//! is an enum that knows its allowed moves, so a handler never compares
//! status strings and a refused move always names the moves that exist.

use std::fmt;

/// A status whose moves are fixed by the domain (DOMAIN.md, "State machines").
pub trait StateMachine: Copy + Eq + fmt::Display + 'static {
    /// What the machine is the status of, as the API names it (`lead`, `task`).
    const ENTITY: &'static str;

    /// The statuses this one may move to.
    fn next(self) -> &'static [Self];

    /// Moves to `to`, or says why not and what is allowed instead.
    fn transition(self, to: Self) -> Result<Self, TransitionError> {
        if self.next().contains(&to) {
            Ok(to)
        } else {
            Err(TransitionError {
                entity: Self::ENTITY,
                from: self.to_string(),
                to: to.to_string(),
                allowed: self.next().iter().map(ToString::to_string).collect(),
            })
        }
    }
}

/// A move the state machine does not allow. Answered as a 409 problem of
/// type `invalid-transition` listing `allowed`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.detail())]
pub struct TransitionError {
    pub entity: &'static str,
    pub from: String,
    pub to: String,
    pub allowed: Vec<String>,
}

impl TransitionError {
    pub fn detail(&self) -> String {
        if self.allowed.is_empty() {
            format!(
                "a {} that is `{}` cannot move to `{}`: `{}` is final",
                self.entity, self.from, self.to, self.from
            )
        } else {
            format!(
                "a {} that is `{}` cannot move to `{}`; it can move to {}",
                self.entity,
                self.from,
                self.to,
                self.allowed
                    .iter()
                    .map(|s| format!("`{s}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    }
}

/// A stored column holding a value its enum does not know: a corrupt row or
/// one written by a newer release. Never read as the initial state, which
/// would silently reopen or reset the record; the request fails as an
/// internal error instead. Names the table, the column and the row, never
/// the value, which may be someone's data.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{table}.{column} of row {row} holds a value carebase does not know")]
pub struct UnknownStoredValue {
    pub table: &'static str,
    pub column: &'static str,
    pub row: uuid::Uuid,
}

impl From<UnknownStoredValue> for crate::error::ApiError {
    /// Logged with its cause, answered as a plain 500.
    fn from(err: UnknownStoredValue) -> Self {
        crate::error::ApiError::Internal(err.into())
    }
}

impl From<UnknownStoredValue> for sea_orm::DbErr {
    /// For reads whose callers speak the database's errors (jobs, stores).
    fn from(err: UnknownStoredValue) -> Self {
        sea_orm::DbErr::Custom(err.to_string())
    }
}

/// Declares an enum of the domain stored and serialized as the seeds spell
/// its values: `ALL`, `as_str`, `parse` and `Display` come with it, so the
/// database check, the API and the code agree on one list.
macro_rules! string_enum {
    ($(#[doc = $doc:literal])* $name:ident $(as $schema:literal)? { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[doc = $doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        // By hand, not derived: the derive does not see a `serde(rename)`
        // whose value comes from a macro argument, and would document the
        // variants' Rust names instead of the wire values.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                let description = [$($doc),*].map(str::trim).join("\n");
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::SchemaType::Type(
                        utoipa::openapi::schema::Type::String,
                    ))
                    .description((!description.is_empty()).then_some(description))
                    .enum_values(Some([$($text),+]))
                    .into()
            }
        }

        // `as "Name"` names the schema where the type's own name is taken
        // by another schema of the document (the last one registered would
        // silently replace the first).
        impl utoipa::ToSchema for $name {
            $(
                fn name() -> std::borrow::Cow<'static, str> {
                    std::borrow::Cow::Borrowed($schema)
                }
            )?
        }

        impl $name {
            pub const ALL: [$name; [$($text),+].len()] = [$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn parse(value: &str) -> Option<Self> {
                Self::ALL.into_iter().find(|v| v.as_str() == value)
            }

            /// Reads the value stored in `table.column` of row `row`; a
            /// value outside the list is an error, not a default.
            pub fn from_stored(
                value: &str,
                table: &'static str,
                column: &'static str,
                row: uuid::Uuid,
            ) -> Result<Self, $crate::transition::UnknownStoredValue> {
                Self::parse(value).ok_or($crate::transition::UnknownStoredValue { table, column, row })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use string_enum;

#[cfg(test)]
mod tests {
    use super::*;

    string_enum! {
        Shade {
            Light => "light",
            Dark => "dark",
        }
    }

    string_enum! {
        /// A name two schemas would share.
        Level as "ShadeLevel" {
            Low => "low",
        }
    }

    #[test]
    fn a_schema_name_given_with_as_replaces_the_type_name() {
        use utoipa::ToSchema;
        assert_eq!(Level::name(), "ShadeLevel");
        assert_eq!(Shade::name(), "Shade");
        let stored = Level::from_stored("low", "levels", "level", uuid::Uuid::nil());
        assert_eq!(stored.ok(), Some(Level::Low));
    }

    #[test]
    fn the_openapi_schema_lists_the_wire_values() {
        use utoipa::PartialSchema;
        let schema = serde_json::to_value(Shade::schema()).unwrap();
        assert_eq!(schema["enum"], serde_json::json!(["light", "dark"]));
        assert_eq!(schema["type"], "string");
    }

    #[test]
    fn a_stored_value_outside_the_list_is_an_internal_error_that_hides_the_value() {
        let row = uuid::Uuid::from_u128(7);
        assert_eq!(
            Shade::from_stored("dark", "paints", "shade", row),
            Ok(Shade::Dark)
        );
        let unknown = Shade::from_stored("Mrs Smith's", "paints", "shade", row).unwrap_err();
        assert_eq!(
            unknown,
            UnknownStoredValue {
                table: "paints",
                column: "shade",
                row
            }
        );
        let logged = unknown.to_string();
        assert!(logged.contains("paints.shade") && logged.contains(&row.to_string()));
        assert!(!logged.contains("Smith"), "{logged}");
        let error = crate::error::ApiError::from(unknown);
        assert!(matches!(error, crate::error::ApiError::Internal(_)));
        let problem = error.problem();
        assert_eq!(problem.status, 500);
        assert!(!problem.detail.contains("paints"), "{}", problem.detail);
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Light {
        Red,
        Green,
        Off,
    }

    impl fmt::Display for Light {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(match self {
                Light::Red => "red",
                Light::Green => "green",
                Light::Off => "off",
            })
        }
    }

    impl StateMachine for Light {
        const ENTITY: &'static str = "light";
        fn next(self) -> &'static [Self] {
            match self {
                Light::Red => &[Light::Green, Light::Off],
                Light::Green => &[Light::Red, Light::Off],
                Light::Off => &[],
            }
        }
    }

    #[test]
    fn allowed_moves_pass_and_refusals_name_the_alternatives() {
        assert_eq!(Light::Red.transition(Light::Green), Ok(Light::Green));
        let refused = Light::Red.transition(Light::Red).unwrap_err();
        assert_eq!(refused.allowed, ["green", "off"]);
        assert_eq!(
            refused.detail(),
            "a light that is `red` cannot move to `red`; it can move to `green`, `off`"
        );
        let final_state = Light::Off.transition(Light::Red).unwrap_err();
        assert!(final_state.detail().ends_with("`off` is final"));
    }
}
