//! Facilities: the tenants. Every patient, conversation, appointment and
//! document belongs to one, and access is granted per facility.

use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue, ConnectionTrait, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::new_id;
use crate::error::{ApiError, FieldError};
use crate::time::Timestamp;

/// Raised in the transaction that creates a facility, so that contexts set
/// up what every facility starts with (the CRM its default pipelines).
#[derive(Clone, Copy, Debug)]
pub struct FacilityCreated {
    pub facility_id: Uuid,
}

/// Raised in the transaction that writes a facility's settings object (at
/// creation or in a change), so each context checks the part of it that
/// it reads (scheduling's `scheduling` key); a reaction that refuses it
/// refuses the whole change with its 422.
#[derive(Clone, Debug)]
pub struct FacilitySettingsWritten {
    pub facility_id: Uuid,
    pub settings: serde_json::Value,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "facilities")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    pub npi: Option<String>,
    pub address_line1: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip_code: Option<String>,
    pub facility_type: Option<String>,
    /// An IANA time zone such as `America/Los_Angeles`; local times are shown in it.
    pub time_zone: String,
    /// JSON object of facility settings.
    pub settings: String,
    pub is_active: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// A facility as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Facility {
    pub id: Uuid,
    pub name: String,
    pub npi: Option<String>,
    pub address_line1: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip_code: Option<String>,
    pub facility_type: Option<String>,
    pub time_zone: String,
    #[schema(value_type = Object)]
    pub settings: serde_json::Value,
    pub is_active: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<Model> for Facility {
    fn from(m: Model) -> Self {
        Self {
            id: m.id,
            settings: serde_json::from_str(&m.settings).unwrap_or(serde_json::Value::Null),
            name: m.name,
            npi: m.npi,
            address_line1: m.address_line1,
            city: m.city,
            state: m.state,
            zip_code: m.zip_code,
            facility_type: m.facility_type,
            time_zone: m.time_zone,
            is_active: m.is_active,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// The fields of a facility a client may set.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FacilityFields {
    pub name: Option<String>,
    pub npi: Option<String>,
    pub address_line1: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip_code: Option<String>,
    pub facility_type: Option<String>,
    /// An IANA time zone; `UTC` when not given at creation.
    pub time_zone: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub settings: Option<serde_json::Value>,
    pub is_active: Option<bool>,
}

impl FacilityFields {
    /// Checks every given field, collecting all problems.
    pub fn validate(&self, creating: bool) -> Result<(), ApiError> {
        let mut errors = Vec::new();
        match &self.name {
            Some(name) if name.trim().is_empty() || name.len() > 255 => {
                errors.push(FieldError::new("name", "must be 1 to 255 characters"))
            }
            None if creating => errors.push(FieldError::new("name", "is required")),
            _ => {}
        }
        if let Some(npi) = &self.npi
            && !(npi.len() == 10 && npi.bytes().all(|b| b.is_ascii_digit()))
        {
            errors.push(FieldError::new("npi", "must be 10 digits"));
        }
        if let Some(zone) = &self.time_zone
            && jiff::tz::TimeZone::get(zone).is_err()
        {
            errors.push(FieldError::new(
                "time_zone",
                "is not an IANA time zone such as America/Los_Angeles",
            ));
        }
        if let Some(settings) = &self.settings
            && !settings.is_object()
        {
            errors.push(FieldError::new("settings", "must be a JSON object"));
        }
        for (field, value, max) in [
            ("address_line1", &self.address_line1, 255),
            ("city", &self.city, 100),
            ("state", &self.state, 50),
            ("zip_code", &self.zip_code, 20),
            ("facility_type", &self.facility_type, 100),
        ] {
            if value.as_ref().is_some_and(|v| v.len() > max) {
                errors.push(FieldError::new(
                    field,
                    format!("must be at most {max} characters"),
                ));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(errors))
        }
    }
}

pub async fn create(db: &impl ConnectionTrait, fields: FacilityFields) -> Result<Model, DbErr> {
    let now = Timestamp::now();
    ActiveModel {
        id: ActiveValue::Set(new_id()),
        name: ActiveValue::Set(fields.name.unwrap_or_default().trim().to_owned()),
        npi: ActiveValue::Set(fields.npi),
        address_line1: ActiveValue::Set(fields.address_line1),
        city: ActiveValue::Set(fields.city),
        state: ActiveValue::Set(fields.state),
        zip_code: ActiveValue::Set(fields.zip_code),
        facility_type: ActiveValue::Set(fields.facility_type),
        time_zone: ActiveValue::Set(fields.time_zone.unwrap_or_else(|| "UTC".to_owned())),
        settings: ActiveValue::Set(
            fields
                .settings
                .map(|s| s.to_string())
                .unwrap_or_else(|| "{}".to_owned()),
        ),
        is_active: ActiveValue::Set(fields.is_active.unwrap_or(true)),
        created_at: ActiveValue::Set(now),
        updated_at: ActiveValue::Set(now),
    }
    .insert(db)
    .await
}

pub async fn update(
    db: &impl ConnectionTrait,
    facility: Model,
    fields: FacilityFields,
) -> Result<Model, DbErr> {
    let mut active: ActiveModel = facility.into();
    if let Some(name) = fields.name {
        active.name = ActiveValue::Set(name.trim().to_owned());
    }
    macro_rules! set_optional {
        ($($field:ident),*) => {$(
            if let Some(value) = fields.$field {
                active.$field = ActiveValue::Set(Some(value));
            }
        )*};
    }
    set_optional!(npi, address_line1, city, state, zip_code, facility_type);
    if let Some(zone) = fields.time_zone {
        active.time_zone = ActiveValue::Set(zone);
    }
    if let Some(settings) = fields.settings {
        active.settings = ActiveValue::Set(settings.to_string());
    }
    if let Some(is_active) = fields.is_active {
        active.is_active = ActiveValue::Set(is_active);
    }
    active.updated_at = ActiveValue::Set(Timestamp::now());
    active.update(db).await
}

pub async fn find(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<Model>, DbErr> {
    Entity::find_by_id(id).one(db).await
}

/// Every facility by name, or only `only`: what an installation command
/// that walks the facilities (weekend blocks) runs over.
pub async fn by_name(db: &impl ConnectionTrait, only: Option<Uuid>) -> Result<Vec<Model>, DbErr> {
    let mut query = Entity::find().order_by_asc(Column::Name);
    if let Some(id) = only {
        query = query.filter(Column::Id.eq(id));
    }
    query.all(db).await
}

/// A page of facilities, oldest first, after the cursor; `only` restricts
/// the page to those ids (None: all facilities, for installation roles).
pub async fn page(
    db: &impl ConnectionTrait,
    only: Option<Vec<Uuid>>,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    let mut query = Entity::find().order_by_asc(Column::Id).limit(limit);
    if let Some(ids) = only {
        query = query.filter(Column::Id.is_in(ids));
    }
    if let Some(after) = after {
        query = query.filter(Column::Id.gt(after));
    }
    query.all(db).await
}

/// A facility's setting at `path` (`crm.booking_requires_clinical_review`
/// is `settings.crm.booking_requires_clinical_review`), or `None` when the
/// facility or the setting is absent. Each context names its own keys
/// under its name and documents them (docs/, README).
pub async fn setting(
    db: &impl ConnectionTrait,
    facility_id: Uuid,
    path: &str,
) -> Result<Option<serde_json::Value>, DbErr> {
    let stored: Option<String> = Entity::find_by_id(facility_id)
        .select_only()
        .column(Column::Settings)
        .into_tuple()
        .one(db)
        .await?;
    let Some(stored) = stored else {
        return Ok(None);
    };
    let mut value: serde_json::Value = serde_json::from_str(&stored).unwrap_or_default();
    for part in path.split('.') {
        match value.get_mut(part) {
            Some(inner) => value = inner.take(),
            None => return Ok(None),
        }
    }
    Ok(Some(value))
}

/// A yes-or-no facility setting: its value when it is a boolean, else
/// `default` (a setting left out, or of another type, keeps the behaviour
/// every facility has by default).
pub async fn flag(
    db: &impl ConnectionTrait,
    facility_id: Uuid,
    path: &str,
    default: bool,
) -> Result<bool, DbErr> {
    Ok(setting(db, facility_id, path)
        .await?
        .and_then(|v| v.as_bool())
        .unwrap_or(default))
}
