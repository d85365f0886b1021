//! Points in time as carebase stores and shows them.
//!
//! A [`Timestamp`] is UTC with microsecond precision. It is stored as BIGINT
//! microseconds since the Unix epoch on both backends (see
//! [`crate::db::migrate::schema::timestamp`] for why) and travels in JSON as
//! an RFC 3339 string such as `2026-11-26T09:30:00Z`. Local times are a
//! matter of display and time-zone arithmetic, done with `jiff` where needed.

use std::fmt;
use std::str::FromStr;

use sea_orm::DeriveValueType;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{RefOr, Schema};

/// A UTC instant with microsecond precision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, DeriveValueType)]
pub struct Timestamp(i64);

impl Timestamp {
    pub fn now() -> Self {
        Self::from(jiff::Timestamp::now())
    }

    /// Microseconds since 1970-01-01T00:00:00Z.
    pub fn as_micros(self) -> i64 {
        self.0
    }

    pub fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    /// This instant plus `seconds` (negative to go back).
    pub fn plus_secs(self, seconds: i64) -> Self {
        Self(self.0.saturating_add(seconds.saturating_mul(1_000_000)))
    }

    /// The instant `duration` later, saturating at the end of time instead
    /// of wrapping, so a huge delay means "never" rather than "long ago".
    pub fn saturating_add(self, duration: std::time::Duration) -> Self {
        let micros = i64::try_from(duration.as_micros()).unwrap_or(i64::MAX);
        Self(self.0.saturating_add(micros))
    }

    /// The same instant as a `jiff` timestamp, for time-zone arithmetic.
    /// Values outside jiff's range (years -9999..=9999) saturate to its bounds.
    pub fn to_jiff(self) -> jiff::Timestamp {
        jiff::Timestamp::from_microsecond(self.0).unwrap_or(if self.0 < 0 {
            jiff::Timestamp::MIN
        } else {
            jiff::Timestamp::MAX
        })
    }
}

impl From<jiff::Timestamp> for Timestamp {
    fn from(t: jiff::Timestamp) -> Self {
        // jiff's range in microseconds fits an i64 with room to spare.
        Self(t.as_microsecond())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.to_jiff(), f)
    }
}

impl FromStr for Timestamp {
    type Err = String;

    /// Parses RFC 3339 with an explicit offset (`Z` or `+01:00`); a time
    /// without an offset is ambiguous and refused.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        jiff::Timestamp::from_str(s)
            .map(|t| Self::from(t.round(jiff::Unit::Microsecond).unwrap_or(t)))
            .map_err(|_| {
                "expected an RFC 3339 date-time with an offset, such as 2026-11-26T09:30:00Z"
                    .to_owned()
            })
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Timestamp::from_str(&s).map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for Timestamp {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .description(Some(
                "An instant in RFC 3339 form with an offset, in UTC on output.",
            ))
            .into()
    }
}

impl utoipa::ToSchema for Timestamp {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_rfc3339_at_microsecond_precision() {
        let t: Timestamp = "2026-11-26T09:30:00.123456789+01:00".parse().unwrap();
        assert_eq!(t.to_string(), "2026-11-26T08:30:00.123457Z");
        let json = serde_json::to_string(&t).unwrap();
        let back: Timestamp = serde_json::from_str(&json).unwrap();
        assert_eq!(back, t);
    }

    #[test]
    fn refuses_times_without_an_offset() {
        assert!("2026-11-26T09:30:00".parse::<Timestamp>().is_err());
        assert!("tomorrow".parse::<Timestamp>().is_err());
    }

    #[test]
    fn adds_durations_without_wrapping() {
        let t: Timestamp = "2026-11-26T09:30:00Z".parse().unwrap();
        let later = t.saturating_add(std::time::Duration::from_millis(1500));
        assert_eq!(later.to_string(), "2026-11-26T09:30:01.5Z");
        let never = t.saturating_add(std::time::Duration::MAX);
        assert_eq!(never.as_micros(), i64::MAX);
    }

    #[test]
    fn orders_like_the_instants_it_holds() {
        let a: Timestamp = "2026-11-26T09:30:00Z".parse().unwrap();
        let b: Timestamp = "2026-11-26T09:30:00.5Z".parse().unwrap();
        assert!(a < b);
        assert!(a.as_micros() < b.as_micros());
    }
}
