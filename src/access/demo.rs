//! The access part of `carebase demo`: "Demo Clinic" with staff in every
//! CRM role of seeds 000 and 001, their accounts made through identity. It
//! refuses a database that already has a "Demo Clinic".

use sea_orm::DatabaseTransaction;
use sea_orm::entity::prelude::*;
use serde_json::json;

use super::facilities::{self, FacilityCreated, FacilityFields};
use super::memberships::{self, NewMembership};
use crate::audit::{self, AuditAction, AuditActor, AuditEvent, redact};
use crate::context;
use crate::crypto::DataKey;
use crate::demo::{Demo, JOB};
use crate::identity::accounts::{self, NewAccount};
use crate::identity::password;
use crate::policy::Role;
use crate::time::Timestamp;
use crate::types::Email;

/// The demo facility's name; its presence means the demo was loaded.
pub const FACILITY_NAME: &str = "Demo Clinic";
/// Staff emails are `<role><n>@` this domain (`.test` is reserved: no mail
/// can reach it).
pub const EMAIL_DOMAIN: &str = "demo.carebase.test";

/// The staff: email prefix, role, how many.
const STAFF: [(&str, Role, u32); 7] = [
    ("admin", Role::Admin, 1),
    ("staff", Role::Staff, 2),
    ("reviewer", Role::ClinicalReviewer, 1),
    ("readonly", Role::Readonly, 1),
    ("sdr", Role::Sdr, 4),
    ("coach", Role::HealthCoach, 3),
    ("crmadmin", Role::CrmAdmin, 1),
];

/// A staff account the demo made.
#[derive(Clone, Debug)]
pub struct StaffAccount {
    pub email: String,
    pub role: Role,
    pub account_id: Uuid,
}

/// What access made, for the contexts after it: the facility and its staff.
#[derive(Clone, Debug)]
pub struct DemoFacility {
    pub facility_id: Uuid,
    pub staff: Vec<StaffAccount>,
}

impl DemoFacility {
    /// The accounts holding `role`, in the order they were made.
    pub fn ids(&self, role: Role) -> Vec<Uuid> {
        self.staff
            .iter()
            .filter(|s| s.role == role)
            .map(|s| s.account_id)
            .collect()
    }
}

fn system() -> AuditActor {
    AuditActor::System {
        job: JOB.to_owned(),
    }
}

/// Makes the facility and its staff, and leaves them in `demo.made`.
pub async fn load(demo: &mut Demo<'_>) -> anyhow::Result<()> {
    password::check_policy("password", &demo.options.password)
        .map_err(|_| anyhow::anyhow!("the password must be 12 to 256 characters"))?;
    let existing = facilities::Entity::find()
        .filter(facilities::Column::Name.eq(FACILITY_NAME))
        .one(demo.state.db.conn())
        .await?;
    if let Some(existing) = existing {
        anyhow::bail!(
            "this database already has a facility named \"{FACILITY_NAME}\" ({}): the demo \
             was loaded into it before. Load the demo into a fresh database instead \
             (set database_url or data_dir).",
            existing.id
        );
    }
    let made = create_facility_and_staff(demo).await?;
    demo.loaded(format!(
        "\"{FACILITY_NAME}\" (facility {})",
        made.facility_id
    ));
    for account in &made.staff {
        demo.account(account.email.clone(), account.role.to_string());
    }
    demo.made.insert(made);
    Ok(())
}

/// Every staff account wanted: its email, role and name.
fn wanted() -> anyhow::Result<Vec<(Email, Role, String)>> {
    let mut wanted = Vec::new();
    for (prefix, role, count) in STAFF {
        for n in 1..=count {
            let email = Email::parse(&format!("{prefix}{n}@{EMAIL_DOMAIN}"))
                .map_err(|reason| anyhow::anyhow!("a demo email {reason}"))?;
            wanted.push((email, role, format!("Demo {} {n}", role.as_str())));
        }
    }
    Ok(wanted)
}

/// The facility (and, through its creation event, its default pipelines)
/// and its staff, in one transaction.
async fn create_facility_and_staff(demo: &Demo<'_>) -> anyhow::Result<DemoFacility> {
    let state = demo.state;
    let wanted = wanted()?;
    // Each account gets its own salt; hashing runs off the async threads.
    let hashes = futures_util::future::try_join_all(
        wanted
            .iter()
            .map(|_| password::hash(demo.options.password.clone())),
    )
    .await?;
    let installation = state.keyring.installation().await?;
    let txn = state.db.begin().await?;
    let facility = facilities::create(
        &txn,
        FacilityFields {
            name: Some(FACILITY_NAME.to_owned()),
            city: Some("San Diego".to_owned()),
            state: Some("CA".to_owned()),
            facility_type: Some("Concierge clinic".to_owned()),
            time_zone: Some("America/Los_Angeles".to_owned()),
            ..FacilityFields::default()
        },
    )
    .await?;
    let created = FacilityCreated {
        facility_id: facility.id,
    };
    let after_commit = context::publish(state, &txn, Timestamp::now(), &created).await?;
    let mut events = vec![
        AuditEvent::new(system(), AuditAction::Create, "facility")
            .resource(facility.id)
            .facility(facility.id)
            .changes(redact(json!({ "name": FACILITY_NAME, "demo": true }), &[])),
    ];
    let mut staff = Vec::new();
    for ((email, role, name), hash) in wanted.into_iter().zip(hashes) {
        let account = Wanted {
            email,
            role,
            name,
            hash,
        };
        let (made, event) = add_staff(&txn, &installation, facility.id, account).await?;
        events.push(event);
        staff.push(made);
    }
    audit::commit(txn, events).await?;
    after_commit.run().await;
    Ok(DemoFacility {
        facility_id: facility.id,
        staff,
    })
}

/// A staff account to make.
struct Wanted {
    email: Email,
    role: Role,
    name: String,
    hash: String,
}

/// Makes `wanted`'s account and its membership of the facility; refuses an
/// email that already has an account.
async fn add_staff(
    txn: &DatabaseTransaction,
    installation: &DataKey,
    facility_id: Uuid,
    wanted: Wanted,
) -> anyhow::Result<(StaffAccount, AuditEvent)> {
    let Wanted {
        email,
        role,
        name,
        hash,
    } = wanted;
    if accounts::find_by_email(txn, installation, &email)
        .await?
        .is_some()
    {
        anyhow::bail!(
            "an account {} already exists in this database; load the demo into a fresh database",
            email.as_str()
        );
    }
    let new = NewAccount {
        email: email.clone(),
        password_hash: Some(hash),
        full_name: Some(name),
        invited_by: None,
        email_confirmed: true,
    };
    let account = accounts::create(txn, installation, new).await?;
    let membership = NewMembership {
        account_id: account.id,
        facility_id: Some(facility_id),
        role,
        department: None,
        is_primary: true,
        assigned_by: None,
    };
    memberships::grant(txn, membership).await?;
    let event = AuditEvent::new(system(), AuditAction::Create, "membership")
        .resource(account.id)
        .facility(facility_id)
        .changes(redact(json!({ "role": role, "demo": true }), &[]));
    let made = StaffAccount {
        email: email.as_str().to_owned(),
        role,
        account_id: account.id,
    };
    Ok((made, event))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_demo_passwords_pass_the_password_policy() {
        let password = crate::demo::new_password();
        assert!(password::check_policy("password", &password).is_ok());
    }
}
