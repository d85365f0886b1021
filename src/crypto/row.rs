//! Sealing the fields of one row: every column of a record sealed under the
//! facility's data key and bound to the record's table and id.

use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::{CryptoError, DataKey, FieldRef, Sealed};

/// What the clear column of a catalogue label holds when the value is free
/// text, sealed beside it: lists and statistics see `Other`, never the text.
pub const OTHER_LABEL: &str = "Other";

/// Seals and opens the fields of one row of `table`.
pub struct RowSealer<'a> {
    key: &'a DataKey,
    table: &'static str,
    id: Uuid,
}

impl<'a> RowSealer<'a> {
    pub fn new(key: &'a DataKey, table: &'static str, id: Uuid) -> Self {
        Self { key, table, id }
    }

    fn field<'c>(&'c self, column: &'c str) -> FieldRef<'c> {
        FieldRef::new(self.table, column, self.id)
    }

    pub fn text(&self, column: &str, value: &str) -> Sealed {
        self.key.seal_str(self.field(column), value)
    }

    /// Seals an optional text field; `None` stays `None`.
    pub fn optional_text(&self, column: &str, value: Option<&str>) -> Option<Sealed> {
        value.map(|v| self.text(column, v))
    }

    pub fn json<T: Serialize>(&self, column: &str, value: &T) -> Sealed {
        // Serializing the API's own plain data types cannot fail.
        let bytes = serde_json::to_vec(value).unwrap_or_default();
        self.key.seal(self.field(column), &bytes)
    }

    /// Splits a label into what stays in clear and what is sealed: a value
    /// of `catalogue` stays in clear (it is filtered and counted on, and
    /// names no one); any other value is sealed, its clear column
    /// [`OTHER_LABEL`].
    pub fn label(&self, column: &str, value: &str, catalogue: &[&str]) -> (String, Option<Sealed>) {
        if value == OTHER_LABEL || catalogue.contains(&value) {
            (value.to_owned(), None)
        } else {
            (OTHER_LABEL.to_owned(), Some(self.text(column, value)))
        }
    }

    /// The label [`RowSealer::label`] split: the sealed text when there is
    /// one, else the clear value.
    pub fn open_label(
        &self,
        column: &str,
        clear: &str,
        sealed: &Option<Sealed>,
    ) -> Result<String, CryptoError> {
        match sealed {
            Some(sealed) => self.open_text(column, sealed),
            None => Ok(clear.to_owned()),
        }
    }

    pub fn open_text(&self, column: &str, sealed: &Sealed) -> Result<String, CryptoError> {
        self.key.open_string(self.field(column), sealed)
    }

    /// Opens an optional text field.
    pub fn open_optional_text(
        &self,
        column: &str,
        sealed: &Option<Sealed>,
    ) -> Result<Option<String>, CryptoError> {
        sealed
            .as_ref()
            .map(|s| self.open_text(column, s))
            .transpose()
    }

    pub fn open_json<T: DeserializeOwned>(
        &self,
        column: &str,
        sealed: &Sealed,
    ) -> Result<T, CryptoError> {
        let bytes = self.key.open(self.field(column), sealed)?;
        serde_json::from_slice(&bytes).map_err(|_| CryptoError::Malformed)
    }
}
